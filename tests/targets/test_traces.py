"""One login and one paid webhook each give one connected trace per variant: across a retry, the
fan-out and the fan-in, with the work id on the spans."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from redis.asyncio import Redis

from analysis.traces import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    SpanRecord,
    ancestors,
    read_spans,
    roots,
    traces_of_work,
)
from core import dataset, signatures
from core.contracts import (
    GENERATE_TICKET,
    PROCESS_PAYMENT,
    SEND_MAGIC_LINK,
    SEND_TICKETS,
    VARIANT_NAMES,
    WORK_ID_HEADER,
    order_work_id,
)
from core.db import Store, open_store
from core.processes import stop
from core.redis_server import free_port
from core.settings import Settings
from core.tracing import JOB_TRY, OUTCOME
from queues import has_workers, needs_database, queue_class, queue_of
from runner.commands import target_command
from tests.support import job_events, messages, serve, worker_env, workers
from tests.targets.test_variants import OUTAGE, until
from tests.targets.test_webhook import event_body

ORDER = 14  # seeded with 3 seats: a fan-out of three tickets


@contextmanager
def traced_stack(variant: str, env: dict[str, str]) -> Iterator[str]:
    """The variant's target and workers as the runner starts them, tracing on; stopped (and so
    flushed) on leaving."""
    port = free_port()
    command = target_command(sys.executable, variant, "127.0.0.1", port, "warning")
    with ExitStack() as stack:
        if has_workers(variant):
            stack.enter_context(workers(variant, env))
        target = subprocess.Popen(command, env=env)
        stack.callback(stop, target)
        yield f"http://127.0.0.1:{port}"


async def healthy(client: httpx.AsyncClient) -> None:
    async def answers() -> bool:
        try:
            return (await client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    await until(answers, "the target")


def spans_named(spans: list[SpanRecord], name: str, kind: int) -> list[SpanRecord]:
    return [s for s in spans if s.name == name and s.kind == kind]


def one_trace(spans: list[SpanRecord], work_id: str) -> list[SpanRecord]:
    traces = traces_of_work(spans, work_id)
    assert len(traces) == 1, f"{work_id}: {len(traces)} traces"
    (found,) = traces.values()
    (root,) = roots(found)  # connected: every other span's parent is in the trace
    assert root.kind == SERVER and root.work_id == work_id
    return found


def tries_of(spans: list[SpanRecord], function: str) -> list[tuple[SpanRecord, SpanRecord]]:
    """Each try of `function` with the hand-off span it is a child of and links to."""
    by_id = {s.span_id: s for s in spans}
    pairs = []
    for consumer in spans_named(spans, f"process {function}", CONSUMER):
        sent = by_id[consumer.parent_id]
        assert sent.kind == PRODUCER and sent.name == f"send {function}"
        assert consumer.links == (sent.span_id,)
        pairs.append((sent, consumer))
    return pairs


def systems_called(under: SpanRecord, spans: list[SpanRecord]) -> set[str]:
    """The databases (`db.system`: redis, postgresql) that client calls made right inside
    `under`."""
    children = (s for s in spans if s.parent_id == under.span_id and s.kind == CLIENT)
    return {str(s.attributes.get("db.system")) for s in children if "db.system" in s.attributes}


@pytest.mark.parametrize("variant", VARIANT_NAMES)
async def test_a_login_and_a_payment_are_each_one_connected_trace(
    variant: str,
    settings: Settings,
    store: Store,
    provider: httpx.Client,
    redis: Redis,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    if needs_database([variant]):  # its queue, and so the store, in the embedded PostgreSQL
        url = request.getfixturevalue("embedded_postgres_url")
        settings = settings.model_copy(update={"database_url": url})
        queue = queue_of(variant, settings)
        assert queue is not None
        queue.reset()
        queue.close()
        store = open_store(settings)
        store.seed(settings.seed, settings.seed_users, settings.seed_orders, settings.max_seats)
    trace_dir = tmp_path / "traces"
    # Tries enough, and backoff long enough, that the outage is over before the last try.
    retries = {"MAX_TRIES": "8", "RETRY_BASE_S": "0.2", "RETRY_CAP_S": "1"}
    env = worker_env(settings, TRACING="1", TRACE_DIR=str(trace_dir), **retries)
    queued = queue_class(variant) is not None
    order = store.order(ORDER)
    assert order is not None and order.seats >= 2
    payment = event_body("evt_traced", ORDER)
    signed = {
        "Content-Type": "application/json",
        signatures.HEADER: signatures.sign(settings.webhook_secret, payment),
    }
    with traced_stack(variant, env) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            await healthy(client)
            if queued:  # the login's first try meets an outage and is retried
                provider.put("/control/faults", json=OUTAGE).raise_for_status()
            login = await client.post("/login", json={"email": dataset.registered_email(1)})
            assert login.status_code == 202
            login_work = login.headers[WORK_ID_HEADER]
            if queued:

                async def retried() -> bool:
                    events = await job_events(redis)
                    return any(e["work_id"] == login_work for e in events)

                await until(retried, "the login's first try")
                provider.put("/control/faults", json={}).raise_for_status()
            answer = await client.post("/webhooks/payment", content=payment, headers=signed)
            assert answer.status_code == 200
            order_work = order_work_id(ORDER)

            async def delivered() -> bool:
                return all(messages(provider, work_id=w) for w in (login_work, order_work))

            await until(delivered, "both emails")
    spans = read_spans(trace_dir)

    login_trace = one_trace(spans, login_work)
    order_trace = one_trace(spans, order_work)
    if not queued:
        for found in (login_trace, order_trace):
            (root,) = roots(found)
            calls = [s for s in found if s.kind == CLIENT and s.name.startswith("POST")]
            assert calls and all(root in ancestors(c, found) for c in calls)  # the provider
        return

    # The login: a retry, then the email, each try under the one hand-off, with the backoff
    # between them; every messaging span names the work.
    (root,) = roots(login_trace)
    tries = tries_of(login_trace, SEND_MAGIC_LINK)
    assert len(tries) >= 2 and len({sent.span_id for sent, _ in tries}) == 1
    sent = tries[0][0]
    assert root in ancestors(sent, login_trace)
    ordered = sorted((c for _, c in tries), key=lambda c: c.attributes[JOB_TRY])
    assert ordered[0].attributes[OUTCOME] == "retry" and "retry" in ordered[0].events
    assert ordered[-1].attributes[OUTCOME] == "ok"
    assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(ordered))
    provider_calls = [s for s in login_trace if s.kind == CLIENT and s.name.startswith("POST")]
    assert any(ordered[-1] in ancestors(c, login_trace) for c in provider_calls)

    # The payment: the hand-off, one ticket job per seat under the payment's try (fan-out), and
    # one send_tickets handed off from the try of the ticket that completed the order (fan-in).
    (payment_try,) = [c for _, c in tries_of(order_trace, PROCESS_PAYMENT)]
    tickets = tries_of(order_trace, GENERATE_TICKET)
    assert len({sent.span_id for sent, _ in tickets}) == order.seats
    assert all(sent.parent_id == payment_try.span_id for sent, _ in tickets)
    (fan_in,) = tries_of(order_trace, SEND_TICKETS)
    completing = {c.span_id: c for _, c in tickets}
    assert fan_in[0].parent_id in completing
    assert fan_in[1].attributes[OUTCOME] == "ok"
    messaging = [s for s in order_trace + login_trace if s.kind in (PRODUCER, CONSUMER)]
    assert all(s.work_id in (login_work, order_work) for s in messaging)
    assert {s.work_id for s in order_trace if s.kind in (PRODUCER, CONSUMER)} == {order_work}

    # The Redis and PostgreSQL calls, each inside the work that made it: a hand-off's write to
    # its queue under its producer span (the in-process queue writes nowhere), and each try's
    # record (Redis) and, with the store in PostgreSQL, its SQL under its consumer span.
    spans_of_both = login_trace + order_trace
    handed_off = tries + tries_of(order_trace, PROCESS_PAYMENT) + tickets + [fan_in]
    in_database = needs_database([variant])
    if has_workers(variant):
        queue_store = "postgresql" if in_database else "redis"
        assert all(queue_store in systems_called(sent, spans_of_both) for sent, _ in handed_off)
    try_stores = {"redis", "postgresql"} if in_database else {"redis"}
    assert all(try_stores <= systems_called(c, spans_of_both) for _, c in handed_off)


@contextmanager
def header_probe() -> Iterator[tuple[str, list[str | None]]]:
    """A stand-in provider that accepts every email and keeps each send's `traceparent`: the
    httpx instrumentation adds one to every call it sees, even when the sampler drops its span
    (the sampled flag unset), so a call that went through it shows."""
    seen: list[str | None] = []
    stand_in = FastAPI()

    @stand_in.post("/v3/mail/send")
    async def send(request: Request) -> Response:
        seen.append(request.headers.get("traceparent"))
        return Response(status_code=202)

    with serve(stand_in) as url:
        yield url, seen


async def login_sent(url: str, seen: list[str | None]) -> str:
    """Log a registered user in and wait for the email's send; the work id."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await healthy(client)
        login = await client.post("/login", json={"email": dataset.registered_email(1)})
        assert login.status_code in (200, 202)

        async def sent() -> bool:
            return bool(seen)

        await until(sent, "the email")
        return login.headers[WORK_ID_HEADER]


async def test_a_traced_request_carries_its_trace_to_the_provider(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """The probe sees the instrumentation: a traced request's call names its trace."""
    trace_dir = tmp_path / "traces"
    with header_probe() as (provider_url, seen):
        env = worker_env(settings, TRACING="1", TRACE_DIR=str(trace_dir))
        with traced_stack("sync", env | {"PROVIDER_URL": provider_url}) as url:
            work_id = await login_sent(url, seen)
    trace_id = one_trace(read_spans(trace_dir), work_id)[0].trace_id
    (traceparent,) = seen
    assert traceparent is not None
    _, sent_trace_id, _, flags = traceparent.split("-")
    assert sent_trace_id == trace_id and int(flags, 16) & 1  # the sampled flag


@pytest.mark.parametrize("variant", ["sync", "delegated"])
async def test_a_request_left_out_of_the_sample_leaves_no_span_anywhere(
    variant: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    """Not even a partial trace from its job, nor a trace of a worker's polling; and neither
    the target nor the worker puts its provider call through the instrumentation."""
    trace_dir = tmp_path / "traces"
    with header_probe() as (provider_url, seen):
        env = worker_env(settings, TRACING="1", TRACE_SAMPLE_RATIO="0", TRACE_DIR=str(trace_dir))
        with traced_stack(variant, env | {"PROVIDER_URL": provider_url}) as url:
            await login_sent(url, seen)
    processes = {"target", "worker"} if has_workers(variant) else {"target"}
    assert {p.name.split("-")[0] for p in trace_dir.glob("*.jsonl")} == processes
    assert read_spans(trace_dir) == []
    assert seen == [None]


async def test_a_dead_letter_is_the_last_try_of_its_trace(
    settings: Settings, store: Store, provider: httpx.Client, tmp_path: Path
) -> None:
    trace_dir = tmp_path / "traces"
    env = worker_env(settings, TRACING="1", TRACE_DIR=str(trace_dir))
    provider.put("/control/faults", json=OUTAGE).raise_for_status()
    try:
        with traced_stack("delegated", env) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                await healthy(client)
                login = await client.post("/login", json={"email": dataset.registered_email(1)})
                work_id = login.headers[WORK_ID_HEADER]

                async def given_up() -> bool:
                    return any(d["work_id"] == work_id for d in store.dead_letters())

                await until(given_up, "the dead letter")
    finally:
        provider.put("/control/faults", json={}).raise_for_status()
    found = one_trace(read_spans(trace_dir), work_id)
    tries = sorted((c for _, c in tries_of(found, SEND_MAGIC_LINK)), key=lambda c: c.start_ns)
    assert [t.attributes[JOB_TRY] for t in tries] == list(range(1, settings.max_tries + 1))
    assert all(t.attributes[OUTCOME] == "retry" for t in tries[:-1])
    assert tries[-1].attributes[OUTCOME] == "dead_letter" and "dead_letter" in tries[-1].events


async def test_spans_also_go_to_the_collector_that_otel_exporter_otlp_endpoint_names(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """A real HTTP server stands for the collector: it receives OTLP over HTTP at /v1/traces."""
    received: list[tuple[str, bytes]] = []
    collector = FastAPI()

    @collector.post("/v1/traces")
    async def traces(request: Request) -> Response:
        received.append((request.headers["content-type"], await request.body()))
        return Response(status_code=200)

    trace_dir = tmp_path / "traces"
    with serve(collector) as collector_url:
        env = worker_env(
            settings,
            TRACING="1",
            TRACE_DIR=str(trace_dir),
            OTEL_EXPORTER_OTLP_ENDPOINT=collector_url,
        )
        with traced_stack("sync", env) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                await healthy(client)
                login = await client.post("/login", json={"email": dataset.unknown_email(1)})
                work_id = login.headers[WORK_ID_HEADER]
    assert one_trace(read_spans(trace_dir), work_id)  # the file as ever
    assert received and all(kind == "application/x-protobuf" for kind, _ in received)
    assert any(work_id.encode() in body for _, body in received)  # the same spans, sent
