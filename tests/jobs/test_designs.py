"""The ticket job's lesson, measured from real job records: work done per design, and a stall.

Ticket work done / needed is the sum of the records' `tickets_run` over the seats sold; the
analysis computes it from raw/jobs.csv the same way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psutil
import pytest
from arq.jobs import Job, JobStatus
from redis.asyncio import Redis
from saq.job import Status

from core import tickets
from core.contracts import (
    GENERATE_ORDER_TICKETS,
    GENERATE_TICKET,
    PROCESS_PAYMENT,
    order_work_id,
    payment_job_id,
)
from core.db import Order, Store
from core.settings import Settings
from queues.base import JobQueue
from tests.support import connect_queue, drain, job_events, messages, worker_env, workers

DEADLINE_S = 60.0  # generous: the machine is shared; every wait ends as soon as it can


async def pay(queue: JobQueue, *orders: Order) -> None:
    for order in orders:
        event_id = f"evt_{order.id}"
        args = (event_id, order.id, f"r{order.id}")
        await queue.enqueue(PROCESS_PAYMENT, *args, job_id=payment_job_id(event_id))


async def pay_on_arq(settings: Settings, *orders: Order) -> None:
    queue = await connect_queue("arq", settings)
    try:
        await pay(queue, *orders)
    finally:
        await queue.close()


def orders_with(store: Store, min_seats: int) -> list[Order]:
    found = [store.order(i) for i in range(1, 21)]
    return [o for o in found if o is not None and o.seats >= min_seats]


def hangs(settings: Settings, order: Order, attempt: int) -> list[int]:
    p = settings.ticket_hang_probability
    seats = range(1, order.seats + 1)
    return [s for s in seats if tickets.should_hang(settings.seed, order.id, s, attempt, p)]


def tickets_run(events: list[dict[str, Any]], order: Order) -> int:
    return sum(e["tickets_run"] for e in events if e["work_id"] == order_work_id(order.id))


async def test_fan_out_makes_each_ticket_once_and_completes_every_order(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    orders = orders_with(store, 2)[:3]
    await pay_on_arq(settings, *orders)
    await drain(settings)

    events = await job_events(redis)
    for order in orders:
        assert store.ticket_seats(order.id) == set(range(1, order.seats + 1))
        assert len(messages(provider, work_id=order_work_id(order.id))) == 1
        assert tickets_run(events, order) == order.seats  # work done / needed = 1
    assert {e["function"] for e in events if e["tickets_run"]} == {GENERATE_TICKET}


async def test_a_monolithic_try_killed_by_its_timeout_counts_its_wasted_tickets(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    monolithic = settings.model_copy(
        update={"job_design": "monolithic", "order_job_timeout_s": 1.0, "ticket_work_s": 0.4}
    )
    (order, *_) = orders_with(store, 5)
    await pay_on_arq(monolithic, order)
    await drain(monolithic)

    events = await job_events(redis)
    (try_,) = [e for e in events if e["function"] == GENERATE_ORDER_TICKETS]
    assert try_["outcome"] == "timeout"  # arq fails a timed-out job for good
    kept = len(store.ticket_seats(order.id))
    # Every finished ticket was stored; the one the timeout cut short was started, not kept.
    assert kept <= try_["tickets_run"] <= kept + 1
    assert 0 < try_["tickets_run"] < order.seats
    (letter,) = [d for d in store.dead_letters() if d["work_id"] == order_work_id(order.id)]
    assert "timed out" in str(letter["reason"])
    assert messages(provider, work_id=order_work_id(order.id)) == []


async def test_a_monolithic_retry_makes_every_ticket_again(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    monolithic = settings.model_copy(
        update={
            "job_design": "monolithic",
            "ticket_hang_probability": 0.2,
            "ticket_timeout_s": 0.5,
            "order_job_timeout_s": 30.0,
        }
    )
    order = next(
        o for o in orders_with(store, 3) if hangs(monolithic, o, 1) and not hangs(monolithic, o, 2)
    )
    first_hang = hangs(monolithic, order, 1)[0]
    await pay_on_arq(monolithic, order)
    await drain(monolithic)

    events = await job_events(redis)
    tries = [e for e in events if e["function"] == GENERATE_ORDER_TICKETS]
    assert [(e["try"], e["outcome"], e["tickets_run"]) for e in tries] == [
        (1, "retry", first_hang),  # the seats before the hang, and the hung one
        (2, "ok", order.seats),  # all of them again
    ]
    assert tickets_run(events, order) / order.seats > 1
    assert len(messages(provider, work_id=order_work_id(order.id))) == 1


async def until(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while not (found := await condition()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)
    return found


async def test_on_saq_a_timed_out_monolithic_try_is_retried_and_remakes_its_tickets(
    settings: Settings, store: Store, redis: Redis
) -> None:
    (order, *_) = orders_with(store, 5)
    env = worker_env(
        settings, JOB_DESIGN="monolithic", ORDER_JOB_TIMEOUT_S="1", TICKET_WORK_S="0.4"
    )
    queue = await connect_queue("saq", settings)
    try:
        with workers("saq", env, stop_timeout_s=2):
            await pay(queue, order)

            async def given_up() -> bool:
                return any(d["work_id"] == order_work_id(order.id) for d in store.dead_letters())

            await until(given_up, "the order's dead letter")
    finally:
        await queue.close()

    events = await job_events(redis)
    tries = [e for e in events if e["function"] == GENERATE_ORDER_TICKETS]
    timed_out = [e for e in tries if e["outcome"] == "timeout"]
    assert len(timed_out) == settings.max_tries  # each retried by saq, then dead-lettered
    assert all(e["tickets_run"] > 0 for e in timed_out)
    # The first seats were made again on every try: more work than the seats it kept.
    assert tickets_run(events, order) > len(store.ticket_seats(order.id))


def hung_ticket_programs() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(p.endswith("ticket_program.py") for p in cmdline) and cmdline[-1] == "1":
            found.append(process)
    return found


async def is_queued(variant: str, settings: Settings, redis: Redis, job_id: str) -> bool:
    """A queue sample: is the job still waiting for a worker?"""
    if variant == "delegated":
        status = await Job(job_id, redis, _queue_name=settings.queue_name).status()
        return status is JobStatus.queued
    queue = await connect_queue("saq", settings)
    try:
        job = await queue.queue.job(job_id)
        return job is not None and job.status is Status.QUEUED
    finally:
        await queue.close()


@pytest.mark.parametrize("variant", ["delegated", "saq"])
async def test_monolithic_no_timeout_a_hung_ticket_stalls_the_whole_worker(
    variant: str, settings: Settings, store: Store, redis: Redis
) -> None:
    hanging = settings.model_copy(update={"ticket_hang_probability": 0.2})
    candidates = orders_with(store, 2)
    hung = next(o for o in candidates if hangs(hanging, o, 1))
    other = next(o for o in candidates if o != hung and not hangs(hanging, o, 1))
    env = worker_env(
        hanging,
        JOB_DESIGN="monolithic-no-timeout",
        TICKET_HANG_PROBABILITY="0.2",
        WORKER_MAX_JOBS="4",  # free slots: only the blocked event loop keeps them idle
    )
    if variant == "delegated":
        queue: JobQueue = await connect_queue("arq", settings)
    else:
        queue = await connect_queue("saq", settings)
    try:
        with workers(variant, env, stop_timeout_s=2):
            await pay(queue, hung)

            async def hanging_now() -> list[psutil.Process]:
                return hung_ticket_programs()

            (program,) = await until(hanging_now, "the hung ticket program")
            await pay(queue, other)
            waiting_job = payment_job_id(f"evt_{other.id}")
            await asyncio.sleep(1.0)  # time the worker would need to take a job ~50 times over
            sampled_at = time.time()
            assert await is_queued(variant, settings, redis, waiting_job)
            killed_at = time.time()  # before the kill: the worker may log its end first
            program.kill()

            async def other_started() -> list[dict[str, Any]]:
                return [e for e in await job_events(redis) if e["job_id"] == waiting_job]

            (waited,) = await until(other_started, "the queued payment to run")
    finally:
        await queue.close()

    events = await job_events(redis)
    (stalled, *_) = [
        e
        for e in events
        if e["function"] == GENERATE_ORDER_TICKETS and e["work_id"] == (order_work_id(hung.id))
    ]
    # The payment queued behind the hang started only once the hung program was killed: the
    # worker had free slots and work queued, and started nothing for as long as it hung.
    assert waited["enqueued_at"] < sampled_at < killed_at <= waited["started_at"]
    assert stalled["started_at"] < waited["enqueued_at"]
    assert stalled["ended_at"] >= killed_at
    assert stalled["tickets_run"] == hangs(hanging, hung, 1)[0]  # up to the hung one
