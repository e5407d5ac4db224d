"""The same jobs on saq: real `saq` worker processes fan in to one email and survive a SIGKILL."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import httpx
from redis.asyncio import Redis
from saq.job import Status

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
from queues.saq import ACTIVE, QUEUED, SaqJobs, saq_key
from queues.saq_sweep import PICKUP_GRACE_S, PickupSafeQueue
from tests.support import connect_queue, job_events, messages, worker_env, workers

DEADLINE_S = 60.0  # generous: the machine is shared; every wait ends as soon as it can


async def until(condition: Callable[[], Awaitable[object]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def connect(settings: Settings) -> SaqJobs:
    jobs: SaqJobs = await connect_queue("saq", settings)
    return jobs


async def wait_for_workers(queue: SaqJobs, count: int) -> None:
    """Each worker sweeps when it starts; jobs queued after that meet only the periodic one."""

    async def started() -> bool:
        return len((await queue.queue.info())["workers"]) >= count

    await until(started, f"{count} saq workers")


async def test_tickets_are_emailed_exactly_once_when_saq_workers_race(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    orders = [o for o in (store.order(i) for i in range(1, 21)) if o and o.seats >= 4][:3]
    assert len(orders) == 3
    env = worker_env(settings, TICKET_WORK_S="0.2", WORKER_MAX_JOBS="2")
    queue = await connect(settings)
    try:
        # Three real saq processes share the fan-out, so the last tickets finish concurrently.
        with workers("saq", env, 3):
            await wait_for_workers(queue, 3)
            for order in orders:
                event_id = f"evt_{order.id}"
                args = (event_id, order.id, f"r{order.id}")
                await queue.enqueue(PROCESS_PAYMENT, *args, job_id=payment_job_id(event_id))

            async def sent() -> bool:
                paid = [store.order(order.id) for order in orders]
                return all(o is not None and o.tickets_sent_at for o in paid)

            await until(sent, "every order's tickets email")
    finally:
        await queue.close()

    events = await job_events(redis)
    for order in orders:
        assert store.ticket_seats(order.id) == set(range(1, order.seats + 1))
        work_id = order_work_id(order.id)
        sends = [e for e in events if e["function"] == "send_tickets" and e["work_id"] == work_id]
        assert [e["outcome"] for e in sends if e["outcome"] == "ok"] == ["ok"]
        (message,) = messages(provider, work_id=work_id)
        assert message["attempts"] == 1
    ticket_jobs = [e for e in events if e["function"] == "generate_ticket"]
    assert len({e["job_id"] for e in ticket_jobs}) == sum(o.seats for o in orders)
    assert len({e["pid"] for e in ticket_jobs}) > 1  # the fan-out really was shared


async def test_a_job_whose_saq_worker_is_killed_runs_again_after_its_timeout(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    # The provider holds every send until its client goes away, so the job is mid-try for as
    # long as its timeout lets it be, and the provider's count of hung sends says it started.
    provider.put("/control/faults", json={"hang_probability": 1.0}).raise_for_status()
    env = worker_env(
        settings, PROVIDER_READ_TIMEOUT_S="30", EMAIL_JOB_TIMEOUT_S="3", SAQ_SWEEP_S="1"
    )
    request_id = "r-killed"
    job_id = login_job_id(request_id)
    queue = await connect(settings)
    try:
        with workers("saq", env, 1) as (first,):
            await wait_for_workers(queue, 1)
            args = (request_id, dataset.registered_email(1), "http://t")
            await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)

            async def sending() -> bool:
                counters = provider.get("/control/counters").raise_for_status().json()
                return bool(counters["hung"])

            await until(sending, "the job's send to reach the provider")
            first.send_signal(signal.SIGKILL)
            first.wait()
        provider.put("/control/faults", json={}).raise_for_status()
        killed = await queue.queue.job(job_id)
        # On a slow machine the kill may land on a later try than the first: saq retried the
        # timed-out ones. Whichever it was, the dead worker left its job `active` in Redis.
        assert killed is not None and killed.status == "active"

        # Nobody runs it now. A new worker's sweep finds it once it is past its timeout and
        # queues it again.
        with workers("saq", env, 1):
            await queue.wait(job_id, DEADLINE_S)
        done = await queue.queue.job(job_id)
    finally:
        await queue.close()

    assert done is not None and done.status == "complete"
    assert done.attempts == killed.attempts + 1  # the killed try counts: one fewer left
    (message,) = messages(provider, work_id=login_work_id(request_id))
    assert message["kind"] == "magic_link"
    runs = [e for e in await job_events(redis) if e["job_id"] == job_id]
    assert [
        e["try"] for e in runs if e["try"] == killed.attempts
    ] == []  # the killed try left no record
    ended = runs[-1]
    assert (ended["try"], ended["outcome"]) == (done.attempts, "ok")
    assert ended["pid"] != first.pid
    assert ended["started_at"] - ended["enqueued_at"] >= 3  # not before its timeout
    assert store.dead_letters() == []


# A login job's args; the sweep tests' workers never run them.
SWEPT_ARGS = ("r", dataset.registered_email(1), "http://t")


def sweeper_of(queue: SaqJobs, settings: Settings) -> tuple[PickupSafeQueue, str, str]:
    """A worker's sweeping queue on the same Redis, and the `queued` and `active` keys."""
    sweeper = PickupSafeQueue(queue.queue.redis, name=settings.saq_queue_name)
    name = settings.saq_queue_name
    return sweeper, saq_key(name, QUEUED), saq_key(name, ACTIVE)


async def test_the_sweep_requeues_a_job_whose_worker_died_picking_it_up_not_one_being_picked_up(
    settings: Settings,
) -> None:
    queue = await connect(settings)
    sweeper, queued, active_key = sweeper_of(queue, settings)
    try:
        for request_id in ("r-orphan", "r-picked"):
            await queue.enqueue(SEND_MAGIC_LINK, *SWEPT_ARGS, job_id=login_job_id(request_id))
        # Both are moved as a worker's BLMOVE moves them; only one worker goes on to run its job.
        for _ in range(2):
            await sweeper.redis.lmove(queued, active_key)
        sweep = asyncio.create_task(sweeper.sweep(lock=1))
        picked = await sweeper.job(login_job_id("r-picked"))
        assert picked is not None
        await picked.update(status=Status.ACTIVE)
        swept = await sweep
        orphan = await sweeper.job(login_job_id("r-orphan"))
        active = await sweeper.redis.lrange(active_key, 0, -1)  # type: ignore[misc]
    finally:
        await queue.close()

    assert swept == [sweeper.job_id(login_job_id("r-orphan"))]
    assert orphan is not None and orphan.status == Status.QUEUED  # queued again, to run once
    assert active == [picked.id.encode()]  # the live one is left to its worker


async def test_the_sweep_requeues_a_dead_workers_jobs_side_by_side_never_out_of_sight(
    settings: Settings,
) -> None:
    # Each swept job waits up to `abort` s for a worker to acknowledge; nobody will. One at a
    # time, a killed worker's jobs would come back `abort` s apart.
    queue = await connect(settings)
    sweeper, queued, active_key = sweeper_of(queue, settings)
    orphans = [login_job_id(f"r-orphan-{n}") for n in range(5)]
    abort_s = 2.0
    loop = asyncio.get_running_loop()
    try:
        for job_id in orphans:
            await queue.enqueue(SEND_MAGIC_LINK, *SWEPT_ARGS, job_id=job_id)
            await sweeper.redis.lmove(queued, active_key)  # taken by a worker that then died
        began = loop.time()
        sweep = asyncio.create_task(sweeper.sweep(lock=1, abort=abort_s))
        seen = []  # (in active or queued, in incomplete) while the sweep works
        while not sweep.done():
            held = await sweeper.redis.lrange(active_key, 0, -1)  # type: ignore[misc]
            held += await sweeper.redis.lrange(queued, 0, -1)  # type: ignore[misc]
            owed = await sweeper.redis.zcard(sweeper._incomplete)
            seen.append((len(set(held)), owed))
            await asyncio.sleep(0.05)
        swept = await sweep
        took = loop.time() - began
        jobs = [await sweeper.job(job_id) for job_id in orphans]
    finally:
        await queue.close()

    assert sorted(swept) == sorted(sweeper.job_id(j) for j in orphans)
    assert all(job is not None and job.status == Status.QUEUED for job in jobs)
    assert took < PICKUP_GRACE_S + 2 * abort_s  # one after another: at least 1 + 5 x 2 s
    # Never out of sight: saq's own abort takes a job out of both while it waits.
    assert seen and all(sample == (len(orphans), len(orphans)) for sample in seen)
