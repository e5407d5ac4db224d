"""Where the time went, read from small span files written by OpenTelemetry's own file exporter."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from opentelemetry import trace
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind

from analysis.metrics.load import Run
from analysis.metrics.phases import PHASES, work_phases
from analysis.report.chartset import trace_jobs
from analysis.report.trace_charts import plot_phases, plot_waterfall
from analysis.traces import read_spans
from core.contracts import TRACES_DIR
from core.tracing import JOB_TRY, OUTCOME, WORK_ID

MS = 1_000_000  # ns
T0 = 1_800_000_000 * 1_000_000_000


class Spans:
    """Spans at chosen times, written to `<folder>/<service>-1.jsonl` as a process would."""

    def __init__(self, folder: Path, service: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.exporter = FileSpanExporter(folder / f"{service}-1.jsonl")
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def span(
        self,
        name: str,
        kind: SpanKind,
        start_ms: float,
        end_ms: float,
        parent: trace.Span | None = None,
        link: bool = False,
        attributes: dict[str, str | int] | None = None,
    ) -> trace.Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        links = [Link(parent.get_span_context())] if link and parent is not None else []
        span = self.tracer.start_span(
            name, context, kind, attributes, links, start_time=T0 + int(start_ms * MS)
        )
        span.end(end_time=T0 + int(end_ms * MS))
        return span

    def job_try(
        self, sent: trace.Span, function: str, n: int, start_ms: float, end_ms: float, outcome: str
    ) -> trace.Span:
        attributes: dict[str, str | int] = {JOB_TRY: n, OUTCOME: outcome}
        name = f"process {function}"
        return self.span(name, SpanKind.CONSUMER, start_ms, end_ms, sent, True, attributes)

    def provider_call(self, parent: trace.Span, start_ms: float, end_ms: float) -> None:
        self.span("POST", SpanKind.CLIENT, start_ms, end_ms, parent, False, {"http.method": "POST"})

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def phases(tmp_path: Path) -> pd.DataFrame:
    """A queued login with a retry, a sync login with a retry inside its request, and a paid
    order's fan-out and fan-in."""
    queued, inline = Spans(tmp_path, "target-delegated"), Spans(tmp_path, "target-sync")
    request = queued.span("POST /login", SpanKind.SERVER, 0, 10, attributes={WORK_ID: "login:a"})
    sent = queued.span("send send_magic_link", SpanKind.PRODUCER, 5, 7, request)
    first = queued.job_try(sent, "send_magic_link", 1, 20, 30, "retry")
    queued.provider_call(first, 22, 28)
    second = queued.job_try(sent, "send_magic_link", 2, 1030, 1050, "ok")
    queued.provider_call(second, 1035, 1045)

    request = inline.span("POST /login", SpanKind.SERVER, 0, 500, attributes={WORK_ID: "login:b"})
    inline.provider_call(request, 10, 20)
    inline.provider_call(request, 220, 230)

    request = queued.span(
        "POST /webhooks/payment", SpanKind.SERVER, 0, 4, attributes={WORK_ID: "order:7"}
    )
    sent = queued.span("send process_payment", SpanKind.PRODUCER, 2, 3, request)
    paid = queued.job_try(sent, "process_payment", 1, 10, 20, "ok")
    ticket_sent = [
        queued.span("send generate_ticket", SpanKind.PRODUCER, 12 + i, 13 + i, paid)
        for i in range(2)
    ]
    queued.job_try(ticket_sent[0], "generate_ticket", 1, 30, 100, "ok")
    last = queued.job_try(ticket_sent[1], "generate_ticket", 1, 40, 200, "ok")
    email_sent = queued.span("send send_tickets", SpanKind.PRODUCER, 190, 191, last)
    email = queued.job_try(email_sent, "send_tickets", 1, 300, 320, "ok")
    queued.provider_call(email, 305, 315)
    for spans in (queued, inline):
        spans.close()
    return work_phases(read_spans(tmp_path)).set_index("work_id")


def test_a_queued_login_splits_into_its_phases_across_a_retry(phases: pd.DataFrame) -> None:
    seconds = phases.loc["login:a", [*PHASES, "total"]].to_dict()
    expected = {
        "request": 0.005,
        "hand-off": 0.002,
        "queue wait": 0.013,  # from the hand-off's end to the first try
        "job run": 0.014,  # both tries (30 ms) less their provider calls
        "provider": 0.016,
        "backoff": 1.0,  # between the end of try 1 and the start of try 2
        "total": 1.05,
    }
    assert seconds == pytest.approx(expected, abs=1e-6)
    assert sum(seconds[p] for p in PHASES) == pytest.approx(seconds["total"])


def test_an_inline_login_has_no_queue_and_its_backoff_is_between_provider_calls(
    phases: pd.DataFrame,
) -> None:
    seconds = phases.loc["login:b", [*PHASES, "total"]].to_dict()
    assert seconds == pytest.approx(
        {
            "request": 0.0,
            "hand-off": 0.0,
            "queue wait": 0.0,
            "job run": 0.28,
            "provider": 0.02,
            "backoff": 0.2,
            "total": 0.5,
        },
        abs=1e-6,
    )


def test_an_order_follows_the_chain_that_ended_in_its_email(phases: pd.DataFrame) -> None:
    """payment -> the ticket that completed the order -> send_tickets; the other ticket, done
    earlier beside it, is not on the way."""
    seconds = phases.loc["order:7", [*PHASES, "total"]].to_dict()
    expected = {
        "request": 0.002,
        "hand-off": 0.003,  # payment, the completing ticket, the email
        # each job waits from when the try that handed it off ended
        "queue wait": 0.007 + 0.020 + 0.100,
        "job run": 0.010 + 0.160 + 0.020 - 0.010 - 0.002,  # less provider and inner hand-offs
        "provider": 0.010,
        "backoff": 0.0,
        "total": 0.320,
    }
    assert seconds == pytest.approx(expected, abs=1e-6)
    assert sum(seconds[p] for p in PHASES) == pytest.approx(seconds["total"])


def test_the_phase_chart_stacks_to_the_mean_total(phases: pd.DataFrame) -> None:
    frame = phases.reset_index().assign(scenario="steady")
    figure = plot_phases(frame, "where the time went")
    (ax,) = figure.axes
    widths = [p.get_width() for p in ax.patches if isinstance(p, Rectangle)]
    assert len(widths) == len(PHASES)
    assert sum(widths) == pytest.approx(frame["total"].mean())


def test_a_waterfall_draws_every_span_of_each_work(tmp_path: Path) -> None:
    spans = Spans(tmp_path, "target-delegated")
    request = spans.span("POST /login", SpanKind.SERVER, 0, 10, attributes={WORK_ID: "login:a"})
    spans.span("send send_magic_link", SpanKind.PRODUCER, 5, 7, request)
    spans.close()
    trace_spans = read_spans(tmp_path)
    figure = plot_waterfall([("login:a", trace_spans)], "slowest")
    assert [len(ax.patches) for ax in figure.axes] == [2]


def test_a_traced_run_gets_a_phase_chart_per_variant_and_the_outages_slowest_three(
    tmp_path: Path,
) -> None:
    """Delivered works only; four outage logins of one variant: the waterfall shows three."""
    spans = Spans(tmp_path / TRACES_DIR, "target-delegated")
    works = []
    for n, scenario in enumerate(["steady", "outage", "outage", "outage", "outage", "outage"]):
        work_id = f"login:{n}"
        request = spans.span("POST /login", SpanKind.SERVER, 0, 5, None, False, {WORK_ID: work_id})
        sent = spans.span("send send_magic_link", SpanKind.PRODUCER, 1, 2, request)
        done = spans.job_try(sent, "send_magic_link", 1, 10, 20 + 100 * n, "ok")
        spans.provider_call(done, 11, 19)
        works.append({"work_id": work_id, "scenario": scenario, "variant": "delegated"})
    spans.close()
    requests = pd.DataFrame(works)
    delivered = pd.DataFrame({"work_id": [w["work_id"] for w in works[:-1]]})  # the last: lost
    run = SimpleNamespace(path=tmp_path, requests=requests, deliveries=delivered)
    jobs = {job.name: job for job in trace_jobs(cast(Run, run))}
    assert set(jobs) == {"phases-delegated.png", "waterfall-outage-delegated.png"}
    phases_frame, _ = jobs["phases-delegated.png"].args
    assert len(phases_frame) == 5
    panels, _ = jobs["waterfall-outage-delegated.png"].args
    assert [label.split(":")[1] for label, _ in panels] == ["4", "3", "2"]  # slowest first
    for job in jobs.values():
        assert job.plot(*job.args).axes  # both draw
