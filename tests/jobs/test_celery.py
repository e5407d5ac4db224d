"""The same jobs on Celery: real `celery worker` processes on Redis, and RabbitMQ if it answers."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from core import dataset
from core.contracts import (
    PROCESS_PAYMENT,
    SEND_MAGIC_LINK,
    login_job_id,
    login_work_id,
    order_work_id,
    payment_job_id,
)
from core.db import Store
from core.settings import Settings
from queues import adapter
from queues.celery import Celery, CeleryJobs
from queues.celery_worker import Runtime
from tests.support import job_events, messages, worker_env, workers

DEADLINE_S = 60.0  # generous: the machine is shared; every wait ends as soon as it can
SYNLOOP_TURN_S = 2.5
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


REDIS = pytest.param(None, id="redis")
RABBITMQ = pytest.param(
    AMQP_URL,
    id="rabbitmq",
    marks=pytest.mark.skipif(
        not rabbitmq_answers(), reason="no RabbitMQ answers at 127.0.0.1:5672 (guest/guest)"
    ),
)


async def until(condition: Callable[[], Awaitable[object]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def open_queue(
    name: str, settings: Settings, broker: str | None
) -> tuple[Celery, CeleryJobs, dict[str, str]]:
    """The adapter (emptied), its connection, and its workers' environment on `broker`."""
    settings = settings.model_copy(update={"celery_broker_url": broker})
    queue = adapter(name)(settings)
    assert isinstance(queue, Celery)
    queue.reset()
    jobs = await queue.connect()
    assert isinstance(jobs, CeleryJobs)
    env = worker_env(settings, **({"CELERY_BROKER_URL": broker} if broker else {}))
    return queue, jobs, env


async def alive(queue: Celery) -> None:
    async def shown() -> bool:
        return queue.worker_alive()

    await until(shown, "a celery worker's sign of life")


async def login(jobs: CeleryJobs, request_id: str, user: int = 1) -> str:
    job_id = login_job_id(request_id)
    args = (request_id, dataset.registered_email(user), "http://t")
    assert await jobs.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)
    assert not await jobs.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)  # a duplicate: no-op
    return job_id


@pytest.mark.parametrize("broker", [REDIS, RABBITMQ])
async def test_tickets_are_emailed_exactly_once_when_celery_workers_race(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis, broker: str | None
) -> None:
    orders = [o for o in (store.order(i) for i in range(1, 21)) if o and o.seats >= 4][:3]
    assert len(orders) == 3
    queue, jobs, env = await open_queue("celery", settings, broker)
    env |= {"TICKET_WORK_S": "0.2", "WORKER_MAX_JOBS": "2"}
    try:
        with workers("celery", env, 3):
            for order in orders:
                event_id = f"evt_{order.id}"
                args = (event_id, order.id, f"r{order.id}")
                await jobs.enqueue(PROCESS_PAYMENT, *args, job_id=payment_job_id(event_id))

            async def sent() -> bool:
                paid = [store.order(order.id) for order in orders]
                return all(o is not None and o.tickets_sent_at for o in paid)

            await until(sent, "every order's tickets email")
    finally:
        await jobs.close()
        queue.close()

    events = await job_events(redis)
    for order in orders:
        assert store.ticket_seats(order.id) == set(range(1, order.seats + 1))
        work_id = order_work_id(order.id)
        sends = [e for e in events if e["function"] == "send_tickets" and e["work_id"] == work_id]
        assert [e["outcome"] for e in sends] == ["ok"]
        (message,) = messages(provider, work_id=work_id)
        assert message["attempts"] == 1
    ticket_jobs = [e for e in events if e["function"] == "generate_ticket"]
    assert len({e["job_id"] for e in ticket_jobs}) == sum(o.seats for o in orders)
    assert len({e["pid"] for e in ticket_jobs}) > 1  # the fan-out really was shared


async def kill_mid_send(
    queue: Celery, jobs: CeleryJobs, env: dict[str, str], provider: httpx.Client, rid: str
) -> tuple[str, float]:
    """A login whose worker is SIGKILLed while its send hangs; its job id and the kill's time."""
    provider.put("/control/faults", json={"hang_probability": 1.0}).raise_for_status()
    with workers(queue.name, env, 1) as (worker,):
        await alive(queue)
        job_id = await login(jobs, rid)

        async def sending() -> bool:
            counters = provider.get("/control/counters").raise_for_status().json()
            return bool(counters["hung"])

        await until(sending, "the job's send to reach the provider")
        # On the threads pool Celery's consumer sends an early ack on its loop's next turn
        # (within 2 s): a kill before it would find the task unacknowledged.
        await asyncio.sleep(SYNLOOP_TURN_S)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        killed_at = time.time()
    provider.put("/control/faults", json={}).raise_for_status()
    return job_id, killed_at


CRASH_ENV = {"PROVIDER_READ_TIMEOUT_S": "30", "EMAIL_JOB_TIMEOUT_S": "20"}


@pytest.mark.parametrize("broker", [REDIS, RABBITMQ])
async def test_celery_defaults_lose_the_task_a_killed_worker_was_running(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis, broker: str | None
) -> None:
    queue, jobs, env = await open_queue("celery", settings, broker)
    env |= CRASH_ENV
    try:
        job_id, _ = await kill_mid_send(queue, jobs, env, provider, "r-lost")

        async def gone() -> bool:
            return not queue.pending()

        # Acknowledged as it started: once the dead worker's sign of life lapses, no broker,
        # worker or list holds the task, so the report counts its work lost, not pending.
        await until(gone, "the dead worker's held tasks to lapse")
        with workers(queue.name, env, 1):
            await alive(queue)
            later = await login(jobs, "r-later", 2)
            await jobs.wait(later, DEADLINE_S)
            depth = queue.depth()
            pending: list[Any] = queue.pending()
    finally:
        await jobs.close()
        queue.close()

    assert messages(provider, work_id=login_work_id("r-later"))
    assert messages(provider, work_id=login_work_id("r-lost")) == []
    assert (depth, pending) == ({"ready": 0, "deferred": 0, "in_progress": 0}, [])
    assert [e for e in await job_events(redis) if e["job_id"] == job_id] == []  # no record
    assert store.dead_letters() == []  # and nobody was told


@pytest.mark.parametrize("broker", [REDIS, RABBITMQ])
async def test_celery_acks_late_runs_a_killed_workers_task_again(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis, broker: str | None
) -> None:
    visibility_s = 3.0
    queue, jobs, env = await open_queue("celery-acks-late", settings, broker)
    env |= {**CRASH_ENV, "CELERY_VISIBILITY_TIMEOUT_S": str(visibility_s)}
    try:
        job_id, killed_at = await kill_mid_send(queue, jobs, env, provider, "r-kept")
        if broker is None:
            # On Redis the task waits, unacknowledged, for its visibility timeout; kombu hands
            # it out again when a worker starts or, after that, every ~100 s (see the docs).
            assert [p["work_id"] for p in queue.pending()] == [login_work_id("r-kept")]
            await asyncio.sleep(max(0.0, killed_at + visibility_s + 0.5 - time.time()))
        with workers(queue.name, env, 1):
            await jobs.wait(job_id, DEADLINE_S)

            async def cleared() -> bool:
                # The done mark comes a moment before Celery's ack, and a dead worker's list of
                # what it held lapses GONE_S after its last beat.
                return not queue.pending()

            await until(cleared, "the job to leave the broker and the dead worker's list")
    finally:
        await jobs.close()
        queue.close()

    (message,) = messages(provider, work_id=login_work_id("r-kept"))
    assert message["kind"] == "magic_link"
    (ran,) = [e for e in await job_events(redis) if e["job_id"] == job_id]  # the killed try: none
    assert ran["outcome"] == "ok"
    waited_s = ran["started_at"] - ran["enqueued_at"]
    assert waited_s >= (visibility_s if broker is None else 0)
    assert store.dead_letters() == []


OUTAGE = {"errors": [{"status": 503, "probability": 1.0}]}


async def test_celery_retries_a_5xx_then_dead_letters_it_and_honours_retry_after(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    queue, jobs, env = await open_queue("celery-acks-late", settings, None)
    limited = {"errors": [{"status": 429, "probability": 1.0, "retry_after_s": 1}]}
    try:
        with workers(queue.name, env, 1):
            await alive(queue)
            provider.put("/control/faults", json=OUTAGE).raise_for_status()
            dead = await login(jobs, "r-dead", 1)
            await jobs.wait(dead, DEADLINE_S)
            provider.put("/control/faults", json={}).raise_for_status()
            provider.post(
                "/control/timeline",
                json={"events": [{"at_s": 0, "duration_s": 0.5, "faults": limited}]},
            ).raise_for_status()
            limited_id = await login(jobs, "r-429", 3)
            await jobs.wait(limited_id, DEADLINE_S)
    finally:
        await jobs.close()
        queue.close()

    (letter,) = store.dead_letters()
    assert letter["work_id"] == "login:r-dead"
    assert letter["reason"] == "gave up after 3 tries: provider answered 503"
    events = await job_events(redis)
    assert [e["outcome"] for e in events if e["job_id"] == dead] == [
        "retry",
        "retry",
        "dead_letter",
    ]
    assert [e["try"] for e in events if e["job_id"] == dead] == [1, 2, 3]
    first, second = [e for e in events if e["job_id"] == limited_id]
    assert (first["outcome"], second["outcome"]) == ("retry", "ok")
    assert float(second["started_at"]) - float(first["ended_at"]) >= 0.95  # Retry-After: 1 s
    assert second["enqueued_at"] == first["enqueued_at"]  # the retry keeps the hand-off's time
    assert len(messages(provider, work_id="login:r-429")) == 1


async def test_celery_dead_letters_a_job_that_hangs_past_its_timeout(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    queue, jobs, env = await open_queue("celery", settings, None)
    env |= {"PROVIDER_READ_TIMEOUT_S": "30", "EMAIL_JOB_TIMEOUT_S": "1"}
    provider.put("/control/faults", json={"hang_probability": 1.0}).raise_for_status()
    try:
        with workers(queue.name, env, 1):
            job_id = await login(jobs, "r-hung", 1)
            await jobs.wait(job_id, DEADLINE_S)
    finally:
        await jobs.close()
        queue.close()

    (letter,) = store.dead_letters()
    assert str(letter["reason"]).startswith("timed out after")
    assert [e["outcome"] for e in await job_events(redis) if e["job_id"] == job_id] == ["timeout"]


@pytest.mark.parametrize("name", ["celery", "celery-acks-late"])
@pytest.mark.parametrize("broker", [REDIS, RABBITMQ])
async def test_the_watching_side_sees_a_queued_and_a_deferred_task_and_reset_empties_it(
    settings: Settings, name: str, broker: str | None
) -> None:
    queue, jobs, _ = await open_queue(name, settings, broker)
    try:
        await login(jobs, "r-now")
        args = ("r-later", dataset.registered_email(2), "http://t")
        await jobs.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id("r-later"), defer_s=60)
        depth, pending = queue.depth(), queue.pending()
        queue.reset()
        emptied = queue.depth()
        # A reset forgets the claims too: the same id may be handed off again.
        again = await jobs.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id("r-later"))
    finally:
        await jobs.close()
        queue.close()

    if broker is None:
        assert depth == {"ready": 1, "deferred": 1, "in_progress": 0}
        assert [p["work_id"] for p in pending] == [login_work_id("r-later"), login_work_id("r-now")]
    else:
        # RabbitMQ counts its ready messages, countdowns too, and lists none without taking
        # them: only what a live worker holds can be named.
        assert depth == {"ready": 2, "deferred": 0, "in_progress": 0}
        assert pending == []
    assert emptied == {"ready": 0, "deferred": 0, "in_progress": 0}
    assert again


async def test_a_retry_received_before_its_try_ends_stays_in_the_workers_held_list(
    settings: Settings, store: Store
) -> None:
    """A short countdown's retry can reach the worker before the try that asked for it ends; the
    ending try must not take the retry, which has its id, off the list the drain reads."""
    queue = adapter("celery")(settings)
    assert isinstance(queue, Celery)
    runtime = Runtime(queue, queue.app())
    job_id = login_job_id("r-race")
    try:
        runtime.took(job_id, SEND_MAGIC_LINK, ("r-race", "a@b.co", "http://t"), time.time() + 1)
        runtime.finished(job_id, final=False)  # the try that asked for the retry ends
        waiting = queue.pending()
        runtime.finished(job_id, final=True)  # the retry ends the job
        ended = queue.pending()
    finally:
        runtime.close()
        queue.close()

    assert [p["work_id"] for p in waiting] == [login_work_id("r-race")]
    assert ended == []
