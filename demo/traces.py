"""The demo's latest slow trace: the stack's span files tailed, the last slow delivery kept."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from analysis.metrics.phases import phases_of
from analysis.traces import SpanRecord, parse_line, roots
from core.tracing import SPANS_SUFFIX

SLOW_S = 1.0  # a delivery slower than this, request to email, is worth a waterfall
KEPT = 2_000  # traces held while their jobs may still run: a retried email takes up to ~1 min


@dataclass(frozen=True)
class Bar:
    name: str
    service: str
    start_s: float  # from the request's start
    duration_s: float


@dataclass(frozen=True)
class SlowTrace:
    work_id: str
    total_s: float
    bars: tuple[Bar, ...]


class SlowTraces:
    """Reads what each process appended to its span file since the last call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.offsets: dict[Path, int] = {}
        self.traces: OrderedDict[str, list[SpanRecord]] = OrderedDict()
        self.latest: SlowTrace | None = None
        self.shown: set[str] = set()  # traces already slow: late spans do not bring them back

    def read(self) -> SlowTrace | None:
        touched: set[str] = set()
        for path in sorted(self.folder.glob(f"*{SPANS_SUFFIX}")):
            for span in self._new_spans(path):
                self.traces.setdefault(span.trace_id, []).append(span)
                self.traces.move_to_end(span.trace_id)
                touched.add(span.trace_id)
        while len(self.traces) > KEPT:
            dropped, _ = self.traces.popitem(last=False)
            self.shown.discard(dropped)
        # A trace becomes slow when the spans of its email arrive: the last such is the latest.
        for trace_id in (touched & set(self.traces)) - self.shown:
            slow = slow_trace(self.traces[trace_id])
            if slow is not None:
                self.latest = slow
                self.shown.add(trace_id)
        return self.latest

    def _new_spans(self, path: Path) -> list[SpanRecord]:
        offset = self.offsets.get(path, 0)
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
        complete, newline, _ = data.rpartition(b"\n")  # a line still being written waits
        self.offsets[path] = offset + len(complete) + len(newline)
        spans: list[SpanRecord] = []
        for line in complete.decode().splitlines():
            try:
                spans.extend(parse_line(line))
            except (ValueError, KeyError):
                continue
        return spans


def slow_trace(trace: list[SpanRecord]) -> SlowTrace | None:
    """The trace as waterfall bars, when it delivered an email more than SLOW_S after its
    request; the Redis commands left out (a hand-off's own are a fraction of a millisecond)."""
    seconds = phases_of(trace)
    if seconds is None or seconds["total"] < SLOW_S:
        return None
    (root,) = roots(trace)
    shown = [s for s in trace if "db.system" not in s.attributes]
    bars = tuple(
        Bar(s.name, s.service, (s.start_ns - root.start_ns) / 1e9, s.duration_s)
        for s in sorted(shown, key=lambda s: s.start_ns)
    )
    return SlowTrace(root.work_id, seconds["total"], bars)
