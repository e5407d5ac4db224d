"""Ticket fan-out: hung generators are killed and retried, the email goes out exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import psutil
from redis.asyncio import Redis

from core import tickets
from core.contracts import GENERATE_TICKET, PROCESS_PAYMENT, payment_job_id, ticket_job_id
from core.db import Store
from core.settings import Settings
from tests.support import connect_queue, drain, job_events, messages


def ticket_programs() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(part.endswith("ticket_program.py") for part in cmdline):
            found.append(process)
    return found


def first_seat_that_hangs_once(settings: Settings, order_id: int, seats: int) -> int:
    p = settings.ticket_hang_probability
    for seat in range(1, seats + 1):
        if tickets.should_hang(settings.seed, order_id, seat, 1, p) and not any(
            tickets.should_hang(settings.seed, order_id, seat, attempt, p) for attempt in (2, 3)
        ):
            return seat
    raise AssertionError("no seat hangs on its first try only; pick another seed")


async def test_a_hung_ticket_subprocess_is_killed_and_the_job_retried(
    settings: Settings, store: Store, redis: Redis
) -> None:
    hanging = settings.model_copy(update={"ticket_hang_probability": 0.5, "ticket_timeout_s": 0.5})
    seat = first_seat_that_hangs_once(hanging, order_id=1, seats=20)
    queue = await connect_queue("arq", hanging)
    await queue.enqueue(GENERATE_TICKET, 1, seat, "r-hang", job_id=ticket_job_id(1, seat))
    await queue.close()

    started = time.monotonic()
    await drain(hanging)
    assert time.monotonic() - started < 5  # the hang lasts an hour unless it is killed

    events = await job_events(redis)
    assert [(e["try"], e["outcome"]) for e in events] == [(1, "retry"), (2, "ok")]
    assert store.ticket_seats(1) == {seat}
    assert ticket_programs() == []


def start_workers(settings: Settings, count: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "REDIS_URL": str(settings.redis_url),
        "DATABASE_PATH": str(settings.database_path),
        "TICKETS_DIR": str(settings.tickets_dir),
        "PROVIDER_URL": settings.provider_url,
        "POLL_DELAY_S": "0.01",
        "TICKET_WORK_S": "0.2",
        "WORKER_MAX_JOBS": "2",
        "LOG_LEVEL": "WARNING",
    }
    arq = os.path.join(os.path.dirname(sys.executable), "arq")
    return [
        subprocess.Popen([arq, "queues.arq.WorkerSettings", "--burst"], env=env)
        for _ in range(count)
    ]


async def test_tickets_are_emailed_exactly_once_when_workers_race(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    orders = [o for o in (store.order(i) for i in range(1, 21)) if o and o.seats >= 4][:3]
    assert len(orders) == 3
    queue = await connect_queue("arq", settings)
    for order in orders:
        event_id = f"evt_{order.id}"
        args = (event_id, order.id, f"r{order.id}")
        await queue.enqueue(PROCESS_PAYMENT, *args, job_id=payment_job_id(event_id))
    await queue.close()

    # Three real `arq` processes share the fan-out, so the last tickets finish concurrently.
    workers = start_workers(settings, 3)
    for worker in workers:
        assert worker.wait(timeout=60) == 0

    events = await job_events(redis)
    for order in orders:
        assert store.ticket_seats(order.id) == set(range(1, order.seats + 1))
        sends = [
            e
            for e in events
            if e["function"] == "send_tickets" and e["work_id"] == f"order:{order.id}"
        ]
        assert len(sends) == 1
        (sent,) = messages(provider, work_id=f"order:{order.id}")
        assert sent["attempts"] == 1
    ticket_jobs = [e for e in events if e["function"] == "generate_ticket"]
    assert len({e["job_id"] for e in ticket_jobs}) == sum(o.seats for o in orders)
    assert len({e["pid"] for e in ticket_jobs}) > 1  # the fan-out really was shared
