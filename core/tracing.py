"""OpenTelemetry for targets and workers: set-up from settings, hand-off and try spans."""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context, propagate, trace

# The switch every instrumentation checks before anything else (`is_instrumentation_enabled`),
# as OpenTelemetry's `suppress_instrumentation` sets it.
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from core.contracts import work_id_of_job
from core.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from starlette.types import ASGIApp, Receive, Scope, Send

# The attributes the analysis reads back (analysis/traces.py imports these, never copies them).
WORK_ID: Final = "delegate_bench.work_id"  # joins the spans to the raw files' work_id
JOB_TRY: Final = "delegate_bench.job_try"
OUTCOME: Final = "delegate_bench.outcome"  # what `@job` recorded for the try
SEND, PROCESS = "send", "process"  # messaging.operation.type of the producer and consumer
SPANS_SUFFIX: Final = ".jsonl"  # one OTLP JSON lines file per process in TRACE_DIR
UNTRACED: Final = "healthz,noop"  # health checks and the floor's route would only add noise

_provider: TracerProvider | None = None
_tracer: Tracer | None = None  # the hand-off's and the try's

# Work left out of the sample runs in this context, the switch off: it has no trace context to
# keep. `_untraced` says the same to this module's own checks in one C call, where reading
# OpenTelemetry's context takes five Python calls; each costs an untraced login ~0.1%.
_OFF: Final = Context({_SUPPRESS_INSTRUMENTATION_KEY: True})
_untraced: ContextVar[bool] = ContextVar("untraced", default=False)
Switched = tuple[Token[Context], Token[bool]]


def _switch_off() -> Switched:
    return context.attach(_OFF), _untraced.set(True)


def _switch_back(switched: Switched) -> None:
    _untraced.reset(switched[1])
    context.detach(switched[0])


def setup(settings: Settings, service: str) -> bool:
    """Start tracing this process when TRACING is on (once; later calls change nothing)."""
    global _provider, _tracer
    if _provider is not None or not settings.tracing:
        return _provider is not None
    # Imported here: a process with tracing off pays nothing for the SDK.
    from opentelemetry.exporter.otlp.json.file import FileSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased

    resource = Resource.create({"service.name": service, "process.pid": os.getpid()})
    sampler = ParentBased(_roots())
    provider = TracerProvider(resource=resource, sampler=sampler)
    settings.trace_dir.mkdir(parents=True, exist_ok=True)
    path = settings.trace_dir / f"{service}-{os.getpid()}{SPANS_SUFFIX}"
    provider.add_span_processor(BatchSpanProcessor(FileSpanExporter(path)))
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    # The provider's calls, the queues' and the records' Redis commands, the store's and
    # procrastinate's SQL. Work left out of the sample runs with the switch off (`untraced`),
    # which each checks first (Redis's and httpx's before their wrappers: `_gate_clients`).
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)
    if settings.database_url:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        PsycopgInstrumentor().instrument(tracer_provider=provider)
    _gate_clients()
    _provider, _tracer = provider, provider.get_tracer(__name__)
    return True


def _gate_clients() -> None:
    """Check the switch before the Redis and httpx instrumentations' wrappers, not only inside
    them: reaching their own check costs wrapt's binding and a coroutine more. A Redis command
    with the switch off costs ~9,300 instructions more than unwrapped through their wrapper,
    ~2,400 through this check (callgrind); an untraced login makes one."""
    import httpx
    import redis.asyncio.client
    import redis.client

    commands = ("execute_command", "immediate_execute_command", "execute")
    for module in (redis.client, redis.asyncio.client):
        for cls in (module.Redis, module.Pipeline):
            _gate(cls, commands)
    _gate(httpx.HTTPTransport, ("handle_request",))
    _gate(httpx.AsyncHTTPTransport, ("handle_async_request",))


def _gate(cls: type, names: Sequence[str]) -> None:
    """Each of `cls`'s methods that an instrumentation wrapped, behind the switch: off, the
    original is called straight away (a coroutine function's coroutine returned as is)."""
    for name in names:
        wrapper: Any = cls.__dict__.get(name)
        if type(wrapper).__name__ != "FunctionWrapper":  # wrapt's: not instrumented here
            continue
        setattr(cls, name, _behind_switch(wrapper.__wrapped__, _bound(cls, wrapper)))


def _bound(cls: type, wrapper: Any) -> Callable[..., Any]:
    """wrapt's `wrapper` called as a method of `cls`, bound as wrapt binds it."""

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper.__get__(self, cls)(*args, **kwargs)

    return method


def _behind_switch(plain: Callable[..., Any], traced: Callable[..., Any]) -> Callable[..., Any]:
    """A method that is `plain` for work left out of the sample, `traced` for the rest."""

    @functools.wraps(plain)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return (plain if _untraced.get() else traced)(self, *args, **kwargs)

    return method


def _roots() -> Any:
    """Only requests start traces, chosen before they enter the instrumentation (`Sampled`);
    everything else follows its parent. A command outside any traced work that escaped
    `untraced` would otherwise be a trace of one span."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class Roots(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            sampled = kind is SpanKind.SERVER
            return SamplingResult(Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP)

        def get_description(self) -> str:
            return "Roots"

    return Roots()


class Sampled:
    """Each request goes through the instrumented stack with TRACE_SAMPLE_RATIO's chance, and
    at most TRACE_MAX_PER_S a second (0: no cap), else through the plain one with the
    instrumentation switched off (`untraced`): a request not traced pays for the draw, the
    switch and each client's check of it, nothing else.

    The cap is a token bucket that holds a second's worth, as Jaeger's rate-limiting sampler
    keeps: below the cap the share is as drawn; a target saturated with requests traces only
    a few a second, so its peak rate hardly moves.
    """

    def __init__(
        self,
        plain: ASGIApp,
        traced: ASGIApp,
        ratio: float,
        max_per_s: float,
        seed: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plain, self.traced, self.ratio, self.max_per_s = plain, traced, ratio, max_per_s
        self.rng = random.Random(seed)
        self.clock = clock
        self.full = max(max_per_s, 1.0)  # the bucket: a second's worth of traces
        self.credit, self.credited_at = self.full, clock()

    def chosen(self) -> bool:
        if self.ratio < 1 and self.rng.random() >= self.ratio:
            return False
        if not self.max_per_s:
            return True
        now = self.clock()
        self.credit = min(self.full, self.credit + (now - self.credited_at) * self.max_per_s)
        self.credited_at = now
        if self.credit < 1:
            return False
        self.credit -= 1
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.chosen():
            await self.traced(scope, receive, send)
            return
        switched = _switch_off()
        try:
            await self.plain(scope, receive, send)
        finally:
            _switch_back(switched)


def fastapi_options() -> dict[str, Any]:
    """FastAPI's own telemetry (0.165 on) off: it would trace every request beside the
    instrumentation, which `Sampled` lets only a chosen share through."""
    import inspect

    from fastapi import FastAPI

    if "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def instrument_app(app: FastAPI, settings: Settings, service: str) -> None:
    """A target's request spans (FastAPI's instrumentation) for a sampled share of its
    requests, when tracing is on."""
    if not setup(settings, service):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from starlette.background import BackgroundTask

    build_plain = app.build_middleware_stack
    run_task = BackgroundTask.__call__
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=UNTRACED,
        exclude_spans=["receive", "send"],  # ASGI's message spans: noise in a waterfall
    )
    build_traced = app.build_middleware_stack
    # It patches every background task too (the first time), with a span even when switched
    # off: the in-process variant's untraced jobs would pay for one each.
    if BackgroundTask.__call__ is not run_task:
        traced_task = BackgroundTask.__call__
        BackgroundTask.__call__ = _behind_switch(run_task, traced_task)  # type: ignore[method-assign]
    ratio, max_per_s = settings.trace_sample_ratio, settings.trace_max_per_s
    seed = f"{settings.seed}:{service}:{os.getpid()}"

    def build() -> ASGIApp:
        return Sampled(build_plain(), build_traced(), ratio, max_per_s, seed)

    app.build_middleware_stack = build  # type: ignore[method-assign]


def flush() -> None:
    """Write what is buffered (a worker's shutdown; the provider also flushes at exit)."""
    if _provider is not None:
        _provider.force_flush()


@contextmanager
def untraced() -> Iterator[None]:
    """The instrumentation switched off inside: a client's call checks the switch and goes
    straight through, rather than starting a span for the sampler to drop."""
    if _tracer is None:
        yield
        return
    switched = _switch_off()
    try:
        yield
    finally:
        _switch_back(switched)


def untraced_by_default() -> None:
    """In a worker: the instrumentation off from here on in this thread or task and in the
    tasks it starts, so the queue's own polling, pickup and acknowledgement cost only the
    check; a traced try switches it back on for itself (`consumer`)."""
    if _tracer is not None:
        _switch_off()


def tag_work(work_id: str) -> None:
    """Name the work on the current span (a request's), so the raw files and the spans join."""
    if _provider is not None and not _untraced.get():
        trace.get_current_span().set_attribute(WORK_ID, work_id)


def _work_id(function: str, args: Sequence[Any]) -> str:
    try:
        return work_id_of_job(function, list(args))
    except (ValueError, TypeError, IndexError):
        return ""


@contextmanager
def producer(
    system: str, queue: str, function: str, job_id: str, args: Sequence[Any]
) -> Iterator[dict[str, str]]:
    """The hand-off's PRODUCER span; yields the trace context to carry in the job's metadata
    (empty when tracing is off: the job is then written exactly as before)."""
    if _tracer is None or _untraced.get() or not trace.get_current_span().is_recording():
        yield {}  # tracing off, or a request not sampled: the job is written as untraced
        return
    attributes = {
        "messaging.system": system,
        "messaging.operation.type": SEND,
        "messaging.operation.name": SEND,
        "messaging.destination.name": queue,
        "messaging.message.id": job_id,
        WORK_ID: _work_id(function, args),
    }
    with _tracer.start_as_current_span(f"send {function}", kind=SpanKind.PRODUCER) as span:
        span.set_attributes(attributes)
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        yield carrier


@contextmanager
def consumer(
    function: str, job_id: str, job_try: int, work_id: str, carried: Mapping[str, str]
) -> Iterator[Span]:
    """One try's CONSUMER span: a child of the hand-off that queued it, and linked to it, so the
    tries of a job sit side by side under its hand-off with their backoff between them.

    The try runs in the hand-off's context alone, so its clients' calls are traced as its
    children even in a worker whose own commands are not (`untraced_by_default`); a try whose
    hand-off was not traced runs with the instrumentation off."""
    if _tracer is None:
        yield trace.INVALID_SPAN
        return
    if not carried:
        with untraced():
            yield trace.INVALID_SPAN  # its hand-off was not traced: neither is the job
        return
    parent = propagate.extract(dict(carried))  # a context of its own, the switch on
    sent = trace.get_current_span(parent).get_span_context()
    links = [Link(sent)] if sent.is_valid else []
    attributes: dict[str, AttributeValue] = {
        "messaging.operation.type": PROCESS,
        "messaging.operation.name": PROCESS,
        "messaging.message.id": job_id,
        JOB_TRY: job_try,
        WORK_ID: work_id,
    }
    token, traced = context.attach(parent), _untraced.set(False)
    try:
        with _tracer.start_as_current_span(
            f"process {function}", kind=SpanKind.CONSUMER, links=links
        ) as span:
            span.set_attributes(attributes)
            yield span
    finally:
        _untraced.reset(traced)
        context.detach(token)
