"""The database queue with real workers on the embedded PostgreSQL: one transaction, no loss."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from redis.asyncio import Redis

from core import dataset, signatures
from core.contracts import (
    PROCESS_PAYMENT,
    SEND_MAGIC_LINK,
    login_job_id,
    login_work_id,
    order_work_id,
    payment_job_id,
)
from core.db import Store, open_store
from core.settings import Settings
from queues.procrastinate import Procrastinate, ProcrastinateJobs
from queues.procrastinate_worker import KeptRecords
from runner.stack import Stack, StackOptions
from targets.queued import create_app
from tests.support import connect_queue, job_events, messages, serve, worker_env, workers
from tests.targets.test_webhook import event_body

DEADLINE_S = 60.0  # generous: the machine is shared; every wait ends as soon as it can
OUTAGE = {"errors": [{"status": 503, "probability": 1.0}]}


@pytest.fixture
def pg_settings(settings: Settings, embedded_postgres_url: str) -> Iterator[Settings]:
    own = settings.model_copy(
        update={"database_url": embedded_postgres_url, "procrastinate_stalled_s": 2}
    )
    queue = Procrastinate(own)
    queue.reset()
    yield own
    queue.close()


@pytest.fixture
def pg_store(pg_settings: Settings) -> Iterator[Store]:
    store = open_store(pg_settings)
    s = pg_settings
    store.seed(s.seed, s.seed_users, s.seed_orders, s.max_seats)
    yield store
    store.close()


@dataclass
class OwnServer:
    """A PostgreSQL of the test's own, as the stack starts it: this one is stopped or paused."""

    stack: Stack
    settings: Settings  # pointing at it, stalled workers judged as env_of's are
    store: Store


@pytest.fixture
def own_server(
    settings: Settings, tmp_path: Path, embedded_postgres_url: str
) -> Iterator[OwnServer]:
    # embedded_postgres_url: skipped, saying why, where no PostgreSQL binaries are installed.
    with ExitStack() as exits:
        options = StackOptions(variants=("procrastinate",), log_dir=tmp_path / "logs")
        stack = Stack(settings.model_copy(update={"database_url": None}), options, exits)
        stack.start_database()
        own = stack.settings.model_copy(update={"procrastinate_stalled_s": 2})
        store = exits.enter_context(closing(open_store(own)))
        store.seed(own.seed, own.seed_users, own.seed_orders, own.max_seats)
        yield OwnServer(stack, own, store)


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    return worker_env(
        settings, DATABASE_URL=str(settings.database_url), PROCRASTINATE_STALLED_S="2", **extra
    )


async def until(condition: Callable[[], Awaitable[object]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def connect(settings: Settings, store: Store) -> ProcrastinateJobs:
    jobs = await Procrastinate(settings).connect(store)
    assert isinstance(jobs, ProcrastinateJobs)
    return jobs


def jobs_of(settings: Settings, job_id: str) -> list[tuple[str, int]]:
    with psycopg.connect(str(settings.database_url)) as conn:
        rows = conn.execute(
            "SELECT status::text, attempts FROM procrastinate_jobs WHERE args->>'job_id' = %s",
            (job_id,),
        ).fetchall()
    return [(str(status), int(attempts)) for status, attempts in rows]


def test_the_webhooks_state_change_and_its_job_commit_together(
    pg_settings: Settings, pg_store: Store
) -> None:
    body = event_body("evt_tx", 3)
    headers = {
        "Content-Type": "application/json",
        signatures.HEADER: signatures.sign(pg_settings.webhook_secret, body),
    }
    url = str(pg_settings.database_url)
    with serve(create_app(pg_settings, "procrastinate")) as target:
        # A real failure between the state change and the job: the database refuses the job.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "ALTER TABLE procrastinate_jobs ADD CONSTRAINT refuse CHECK (false) NOT VALID"
            )
        try:
            failed = httpx.post(f"{target}/webhooks/payment", content=body, headers=headers)
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ALTER TABLE procrastinate_jobs DROP CONSTRAINT refuse")
        assert failed.status_code == 503, failed.text
        order = pg_store.order(3)
        assert order is not None and order.paid_at is None  # the order is not paid,
        with psycopg.connect(url) as conn:  # the event not recorded, and no job
            seen = conn.execute("SELECT count(*) FROM webhook_events WHERE id = 'evt_tx'")
            assert seen.fetchone() == (0,)
        assert jobs_of(pg_settings, payment_job_id("evt_tx")) == []

        # The processor redelivers: now both commit; a second redelivery adds nothing.
        done = httpx.post(f"{target}/webhooks/payment", content=body, headers=headers)
        again = httpx.post(f"{target}/webhooks/payment", content=body, headers=headers)
    assert (done.status_code, done.json()) == (200, {"status": "queued"})
    assert again.status_code == 200
    order = pg_store.order(3)
    assert order is not None and order.paid_at is not None
    assert jobs_of(pg_settings, payment_job_id("evt_tx")) == [("todo", 0)]


async def test_retries_then_dead_letters_and_fans_in_once_with_real_workers(
    pg_settings: Settings, pg_store: Store, provider: httpx.Client, redis: Redis
) -> None:
    orders = [o for o in (pg_store.order(i) for i in range(1, 21)) if o and o.seats >= 4][:2]
    assert len(orders) == 2
    provider.put("/control/faults", json=OUTAGE).raise_for_status()
    queue = await connect(pg_settings, pg_store)
    login_id = "dead"
    try:
        with workers("procrastinate", env_of(pg_settings, TICKET_WORK_S="0.2"), 2):
            args = (login_id, dataset.registered_email(1), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id(login_id))
            assert not await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id(login_id))
            await queue.wait(login_job_id(login_id), DEADLINE_S)
            provider.put("/control/faults", json={}).raise_for_status()
            for order in orders:
                event_id = f"evt_{order.id}"
                event_args = (event_id, order.id, f"r{order.id}")
                await queue.enqueue(PROCESS_PAYMENT, *event_args, job_id=payment_job_id(event_id))

            async def sent() -> bool:
                paid = [pg_store.order(order.id) for order in orders]
                return all(o is not None and o.tickets_sent_at for o in paid)

            await until(sent, "every order's tickets email")
    finally:
        await queue.close()

    events = await job_events(redis)
    tries = [e for e in events if e["job_id"] == login_job_id(login_id)]
    assert [(e["try"], e["outcome"]) for e in tries] == [
        (1, "retry"),
        (2, "retry"),
        (3, "dead_letter"),
    ]
    assert [d["work_id"] for d in pg_store.dead_letters()] == [login_work_id(login_id)]
    for order in orders:
        work_id = order_work_id(order.id)
        sends = [e for e in events if e["function"] == "send_tickets" and e["work_id"] == work_id]
        assert [e["outcome"] for e in sends if e["outcome"] == "ok"] == ["ok"]
        (message,) = messages(provider, work_id=work_id)
        assert message["attempts"] == 1
    ticket_jobs = [e for e in events if e["function"] == "generate_ticket"]
    assert len({e["pid"] for e in ticket_jobs}) > 1  # the fan-out really was shared


async def test_a_job_whose_worker_is_killed_runs_again_and_is_delivered_once(
    pg_settings: Settings, pg_store: Store, provider: httpx.Client, redis: Redis
) -> None:
    # The provider holds every send until its client goes away: the job is mid-try.
    provider.put("/control/faults", json={"hang_probability": 1.0}).raise_for_status()
    env = env_of(pg_settings, PROVIDER_READ_TIMEOUT_S="30", EMAIL_JOB_TIMEOUT_S="30")
    login_id = "killed"
    job_id = login_job_id(login_id)
    queue = await connect(pg_settings, pg_store)
    try:
        with workers("procrastinate", env, 1) as (first,):
            args = (login_id, dataset.registered_email(1), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)

            async def sending() -> bool:
                counters = provider.get("/control/counters").raise_for_status().json()
                return bool(counters["hung"])

            await until(sending, "the job's send to reach the provider")
            first.send_signal(signal.SIGKILL)
            first.wait()
        provider.put("/control/faults", json={}).raise_for_status()
        assert jobs_of(pg_settings, job_id) == [("doing", 0)]  # the dead worker's, stuck
        with workers("procrastinate", env, 1):
            await queue.wait(job_id, DEADLINE_S)
    finally:
        await queue.close()

    assert jobs_of(pg_settings, job_id) == [("succeeded", 2)]  # the killed try counts
    (message,) = messages(provider, work_id=login_work_id(login_id))
    assert message["kind"] == "magic_link"
    runs = [e for e in await job_events(redis) if e["job_id"] == job_id]
    assert [(e["try"], e["outcome"]) for e in runs] == [(2, "ok")]  # the killed try: no record
    assert runs[0]["pid"] != first.pid


async def test_job_records_wait_out_a_redis_that_is_down_and_are_each_pushed_once(
    redis: Redis,
) -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    records = KeptRecords(down)
    await asyncio.gather(*(records.rpush("records", f"r{i}") for i in range(5)))  # no raise
    assert len(records.waiting) == 5
    records.redis = redis  # Redis is back: the waiting ones go first, with no job ending
    await records.flush()
    assert [raw.decode() for raw in await redis.lrange("records", 0, -1)] == [  # type: ignore[misc]
        f"r{i}" for i in range(5)
    ]
    await asyncio.gather(*(records.rpush("records", f"r{i}") for i in range(5, 200)))
    pushed = [raw.decode() for raw in await redis.lrange("records", 0, -1)]  # type: ignore[misc]
    assert sorted(pushed) == sorted(f"r{i}" for i in range(200))
    await down.aclose()


async def test_the_runner_sees_ready_deferred_and_pending_jobs_with_their_work(
    pg_settings: Settings, pg_store: Store
) -> None:
    watched = Procrastinate(pg_settings)
    queue = await connect(pg_settings, pg_store)
    try:
        await queue.enqueue(SEND_MAGIC_LINK, "r1", "a@b.net", "http://t", job_id=login_job_id("r1"))
        await queue.enqueue(
            PROCESS_PAYMENT, "evt_9", 9, "r9", job_id=payment_job_id("evt_9"), defer_s=60
        )
    finally:
        await queue.close()
    assert watched.depth() == {"ready": 1, "deferred": 1, "in_progress": 0}
    assert watched.pending() == [
        {"job_id": login_job_id("r1"), "function": SEND_MAGIC_LINK, "work_id": "login:r1"},
        {"job_id": payment_job_id("evt_9"), "function": PROCESS_PAYMENT, "work_id": "order:9"},
    ]
    assert not watched.idle()
    watched.reset()
    assert watched.idle() and watched.pending() == []
    watched.close()


async def test_a_worker_waits_out_a_postgresql_restart_and_runs_the_jobs_after_it(
    own_server: OwnServer, provider: httpx.Client, redis: Redis
) -> None:
    stack, own, store = own_server.stack, own_server.settings, own_server.store
    with workers("procrastinate", env_of(own), 1) as (worker,):
        stack.stop_postgres()
        await asyncio.sleep(3)  # the outage: the worker's connections fail meanwhile
        stack.launch_postgres()
        queue = await connect(own, store)
        try:
            args = ("after", dataset.registered_email(2), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id("after"))
            await queue.wait(login_job_id("after"), DEADLINE_S)
        finally:
            await queue.close()
        assert worker.poll() is None
    (message,) = messages(provider, work_id=login_work_id("after"))
    assert message["kind"] == "magic_link"
    runs = [e for e in await job_events(redis) if e["job_id"] == login_job_id("after")]
    assert [(e["outcome"], e["pid"]) for e in runs] == [("ok", worker.pid)]


async def test_a_job_that_meets_a_store_outage_is_retried_not_lost(
    own_server: OwnServer, provider: httpx.Client, redis: Redis
) -> None:
    # An arq worker (the delegated variant) whose store is this PostgreSQL: its job is in Redis,
    # the user it looks up is in the database that is down. The try fails, the job waits.
    stack, own = own_server.stack, own_server.settings
    env = env_of(own, MAX_TRIES="40", RETRY_BASE_S="0.2", RETRY_CAP_S="0.5")
    job_id = login_job_id("outage")
    with workers("delegated", env, 1):
        queue = await connect_queue("arq", own)
        try:
            # A first job done: the worker is up, its store connected.
            first = ("before", dataset.registered_email(2), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *first, job_id=login_job_id("before"))
            await queue.wait(login_job_id("before"), DEADLINE_S)
            stack.kill_server("postgres")
            args = ("outage", dataset.registered_email(3), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)

            async def retried() -> bool:
                return any(e["outcome"] == "retry" for e in await job_events(redis))

            await until(retried, "a try to meet the outage")
            stack.launch_server("postgres")
            await queue.wait(job_id, DEADLINE_S)
        finally:
            await queue.close()
    (message,) = messages(provider, work_id=login_work_id("outage"))
    assert message["kind"] == "magic_link"
    outcomes = [e["outcome"] for e in await job_events(redis) if e["job_id"] == job_id]
    assert outcomes[0] == "retry" and outcomes[-1] == "ok"
    with closing(open_store(own)) as store:  # the fixture's connections died with the server
        assert store.dead_letters() == []


def test_a_login_and_a_webhook_answer_503_within_the_bound_while_postgresql_is_paused(
    own_server: OwnServer,
) -> None:
    stack = own_server.stack
    own = own_server.settings.model_copy(update={"queue_timeout_s": 1.0})

    def paid(client: httpx.Client, event_id: str) -> httpx.Response:
        body = event_body(event_id, 1)
        headers = {"Content-Type": "application/json"}
        headers[signatures.HEADER] = signatures.sign(own.webhook_secret, body)
        return client.post("/webhooks/payment", content=body, headers=headers)

    with ExitStack() as exits:
        url = exits.enter_context(serve(create_app(own, "procrastinate")))
        client = exits.enter_context(httpx.Client(base_url=url, timeout=60))
        assert client.post("/login", json={"email": "a@example.com"}).status_code == 202
        stack.pause_postgres(True)
        try:
            answers = []
            for n in range(3):  # each waits for the paused server, or for a free connection
                response = client.post("/login", json={"email": f"p{n}@example.com"})
                answers.append((response.status_code, response.elapsed.total_seconds()))
            # The webhook reads the order first: that read is bounded too.
            response = paid(client, "evt_paused")
            answers.append((response.status_code, response.elapsed.total_seconds()))
        finally:
            stack.pause_postgres(False)
        after = client.post("/login", json={"email": "b@example.com"})
        # Redelivered once the database answers, the same event is taken.
        deadline = time.monotonic() + DEADLINE_S
        while (redelivered := paid(client, "evt_paused")).status_code == 503:
            assert time.monotonic() < deadline, "no answer but 503 after the resume"
            time.sleep(0.2)
    assert [status for status, _ in answers] == [503, 503, 503, 503]
    assert redelivered.json() == {"status": "queued"}
    # Bounded by DATABASE_QUEUE_TIMEOUT_S, not by the stall (psycopg's cancel of a query to a
    # paused server would wait for the server); 3 s of slack for a busy machine.
    assert max(elapsed for _, elapsed in answers) < own.queue_timeout_s + 3
    assert after.status_code == 202


async def test_a_paused_database_does_not_make_workers_take_each_other_for_dead(
    own_server: OwnServer, provider: httpx.Client
) -> None:
    # Every heartbeat stops while the server is paused; a live worker's running job must not
    # be run a second time when it resumes.
    provider.put("/control/faults", json={"hang_probability": 1.0}).raise_for_status()
    stack, own, store = own_server.stack, own_server.settings, own_server.store
    env = env_of(own, PROVIDER_READ_TIMEOUT_S="40", EMAIL_JOB_TIMEOUT_S="60")
    with workers("procrastinate", env, 2):
        queue = await connect(own, store)
        try:
            args = ("held", dataset.registered_email(1), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id("held"))

            async def hung() -> int:
                counters = provider.get("/control/counters").raise_for_status().json()
                return int(counters["hung"])

            await until(hung, "the job's send to reach the provider")
            stack.pause_postgres(True)
            await asyncio.sleep(3 * own.procrastinate_stalled_s)  # every heartbeat stale
            stack.pause_postgres(False)
            await asyncio.sleep(3 * own.procrastinate_stalled_s)  # sweeps after it
            assert await hung() == 1
            assert jobs_of(own, login_job_id("held")) == [("doing", 0)]
        finally:
            await queue.close()
            provider.put("/control/faults", json={}).raise_for_status()


async def test_an_idle_worker_is_woken_by_notify_not_by_its_polling(
    pg_settings: Settings, pg_store: Store, provider: httpx.Client, redis: Redis
) -> None:
    poll_s = 60.0  # the fallback polling: no job may wait for it
    watched = Procrastinate(pg_settings)
    queue = await connect(pg_settings, pg_store)
    try:
        with workers("procrastinate", env_of(pg_settings, PROCRASTINATE_POLL_S=str(poll_s))):
            await until(lambda: asyncio.to_thread(watched.worker_alive), "the worker")
            await asyncio.sleep(1)  # past its first look at the queue: now it only listens
            args = ("woken", dataset.registered_email(3), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id("woken"))
            await queue.wait(login_job_id("woken"), DEADLINE_S)
    finally:
        await queue.close()
        watched.close()
    (run,) = [e for e in await job_events(redis) if e["job_id"] == login_job_id("woken")]
    assert run["outcome"] == "ok"
    assert run["started_at"] - run["enqueued_at"] < poll_s / 10
