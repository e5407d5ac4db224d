"""Where a delivered work's time went, from its trace: request, hand-off, queue wait, job run,
provider and backoff along the chain of jobs that ended in the email."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pandas as pd

from analysis.traces import CLIENT, CONSUMER, SERVER, SpanRecord, ancestors, roots
from core.tracing import JOB_TRY, OUTCOME

PHASES = ("request", "hand-off", "queue wait", "job run", "provider", "backoff")
COLUMNS = ("trace_id", "work_id", *PHASES, "total")


def is_provider_call(span: SpanRecord) -> bool:
    """An HTTP client span (httpx's): the email provider, the only HTTP a job makes."""
    return span.kind == CLIENT and any(k.startswith("http.") for k in span.attributes)


def delivering_chain(trace: list[SpanRecord]) -> list[tuple[SpanRecord | None, list[SpanRecord]]]:
    """Each job that led to the email, first to last: its hand-off and its tries in order. The
    last job is the try that ended "ok" last; the ones before are those that handed it off. A
    trace with no job (sync) is its request, as one try with no hand-off."""
    by_id = {s.span_id: s for s in trace}
    tries = [s for s in trace if s.kind == CONSUMER]
    if not tries:
        (root,) = roots(trace)
        return [(None, [root])]
    done = [s for s in tries if s.attributes.get(OUTCOME) == "ok"]
    if not done:
        return []
    chain: list[tuple[SpanRecord | None, list[SpanRecord]]] = []
    current: SpanRecord | None = max(done, key=lambda s: s.end_ns)
    while current is not None and current.kind == CONSUMER:
        sent = by_id.get(current.parent_id)
        mine = sorted(
            (s for s in tries if s.parent_id == current.parent_id),
            key=lambda s: int(s.attributes.get(JOB_TRY, 0)),
        )
        chain.append((sent, mine))
        current = by_id.get(sent.parent_id) if sent is not None else None
    return chain[::-1]


def phases_of(trace: list[SpanRecord]) -> dict[str, float] | None:
    """Seconds per phase of one trace, None when it delivered nothing."""
    found = roots(trace)
    # A trace still arriving (its request's span is written when the request ends) is none.
    if len(found) != 1 or found[0].kind != SERVER:
        return None
    chain = delivering_chain(trace)
    if not chain:
        return None
    root = found[0]
    tried = {s.span_id for _, tries in chain for s in tries}
    calls = sorted(
        (
            c
            for c in trace
            if is_provider_call(c) and tried & {a.span_id for a in ancestors(c, trace)}
        ),
        key=lambda c: c.start_ns,
    )
    if not calls:
        return None
    seconds = dict.fromkeys(PHASES, 0.0)
    seconds["provider"] = sum(c.duration_s for c in calls)
    first_sent, _ = chain[0]
    if first_sent is None:  # inline: the gaps between provider tries are its backoff
        gaps = sum(max(b.start_ns - a.end_ns, 0) for a, b in itertools.pairwise(calls))
        seconds["backoff"] = gaps / 1e9
        seconds["job run"] = root.duration_s - seconds["provider"] - seconds["backoff"]
        seconds["total"] = root.duration_s
        return seconds
    seconds["request"] = (first_sent.start_ns - root.start_ns) / 1e9
    handed_at = 0  # when the try that handed the next job off ended: its wait starts after
    for sent, tries in chain:
        assert sent is not None
        seconds["hand-off"] += sent.duration_s
        if handed_at:  # a fan-out's hand-off ran inside the try before: not its job run too
            seconds["job run"] -= sent.duration_s
        waited_ns = tries[0].start_ns - max(sent.end_ns, handed_at)
        seconds["queue wait"] += max(waited_ns, 0) / 1e9
        seconds["job run"] += sum(t.duration_s for t in tries)
        handed_at = tries[-1].end_ns
        backoff_ns = sum(max(b.start_ns - a.end_ns, 0) for a, b in itertools.pairwise(tries))
        seconds["backoff"] += backoff_ns / 1e9
    seconds["job run"] -= seconds["provider"]
    seconds["total"] = (chain[-1][1][-1].end_ns - root.start_ns) / 1e9
    return seconds


def work_phases(spans: Iterable[SpanRecord]) -> pd.DataFrame:
    """One row per trace that delivered an email: its work id and seconds per phase."""
    traces: dict[str, list[SpanRecord]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    rows = []
    for trace_id, trace in traces.items():
        seconds = phases_of(trace)
        if seconds is not None:
            (root,) = roots(trace)
            rows.append({"trace_id": trace_id, "work_id": root.work_id, **seconds})
    return pd.DataFrame(rows, columns=list(COLUMNS))
