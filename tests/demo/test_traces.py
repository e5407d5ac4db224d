"""The demo's latest slow trace, read from span files as the stack's processes append to them."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import SpanKind

from core.tracing import WORK_ID
from demo.traces import SLOW_S, SlowTraces
from tests.analysis.test_phases import Spans


def login(spans: Spans, work_id: str, at_ms: float, retry_ms: float | None) -> None:
    """A login; with `retry_ms`, its first try fails and the second starts that much later."""
    request = spans.span(
        "POST /login", SpanKind.SERVER, at_ms, at_ms + 5, None, False, {WORK_ID: work_id}
    )
    sent = spans.span("send send_magic_link", SpanKind.PRODUCER, at_ms + 1, at_ms + 2, request)
    spans.span(
        "EVALSHA", SpanKind.CLIENT, at_ms + 1, at_ms + 2, sent, False, {"db.system": "redis"}
    )
    start = at_ms + 10
    if retry_ms is not None:
        first = spans.job_try(sent, "send_magic_link", 1, start, start + 10, "retry")
        spans.provider_call(first, start + 1, start + 9)
        start += retry_ms
    done = spans.job_try(sent, "send_magic_link", 2, start, start + 10, "ok")
    spans.provider_call(done, start + 1, start + 9)


def test_the_latest_delivery_slower_than_a_second_is_shown_as_it_arrives(tmp_path: Path) -> None:
    spans = Spans(tmp_path, "target-delegated")
    traces = SlowTraces(tmp_path)
    login(spans, "login:fast", 0, None)
    assert traces.read() is None  # delivered in 20 ms
    login(spans, "login:slow", 100, SLOW_S * 1000 + 500)
    login(spans, "login:fast-again", 200, None)
    slow = traces.read()
    assert slow is not None and slow.work_id == "login:slow"
    assert slow.total_s > SLOW_S
    names = [b.name for b in slow.bars]
    assert "EVALSHA" not in names and names.count("process send_magic_link") == 2
    assert slow.bars[0].start_s == 0 and slow.bars[-1].start_s > SLOW_S
    unended = spans.tracer.start_span("POST /login", kind=SpanKind.SERVER)  # not written yet
    spans.span("send send_magic_link", SpanKind.PRODUCER, 400, 401, unended)
    spans.span("POST", SpanKind.CLIENT, 402, 410, unended)  # two spans whose parent is missing
    login(spans, "login:fast-later", 300, None)
    assert traces.read() is slow  # a fast one does not replace it
    spans.close()
