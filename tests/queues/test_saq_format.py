"""The saq queue: jobs in saq's own format that saq's worker runs, keys refused while kept."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from saq.job import Job as SaqJob
from saq.job import Status
from saq.worker import Worker

from core.contracts import (
    GENERATE_TICKET,
    SEND_MAGIC_LINK,
    login_job_id,
    login_work_id,
    order_work_id,
    ticket_job_id,
)
from core.db import Store
from core.settings import Settings
from queues.base import QueueUnavailable
from queues.saq import Saq, SaqJobs, SaqLimits


@pytest.fixture
async def queue(settings: Settings, redis: Redis, store: Store) -> Any:
    queue = await Saq(settings).connect(store)
    yield queue
    await queue.close()


@asynccontextmanager
async def running_worker(queue: SaqJobs, calls: list[dict[str, Any]]) -> AsyncIterator[None]:
    """A real saq worker running a stand-in function, started before any job is queued.

    Started first, as in a deployment: saq sweeps at start-up, and a sweep that catches a job
    between its BLMOVE and its status update re-runs it (a saq 0.26 race).
    """

    async def send_magic_link(ctx: dict[str, Any], **kwargs: Any) -> str:
        calls.append(kwargs)
        return "ok"

    worker: Worker[Any] = Worker(queue.queue, [(SEND_MAGIC_LINK, send_magic_link)])
    task = asyncio.create_task(worker.start())
    await asyncio.sleep(0.2)  # let the start-up sweep pass
    try:
        yield
    finally:
        await worker.stop()
        await task


async def test_a_key_is_refused_while_queued_and_while_the_finished_job_is_kept(
    settings: Settings, queue: SaqJobs
) -> None:
    job_id = login_job_id("r1")
    args = ("r1", "nobody1@example.net", "http://t")
    calls: list[dict[str, Any]] = []
    async with running_worker(queue, calls):
        assert await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)
        assert not await queue.enqueue(SEND_MAGIC_LINK, "r1", "x", "y", job_id=job_id)
        await queue.wait(job_id, timeout_s=30)
    assert calls == [{"args": list(args)}]  # the one enqueue that counted, run once

    job = await queue.queue.job(job_id)
    assert job is not None
    assert (job.function, job.status, job.attempts) == (SEND_MAGIC_LINK, Status.COMPLETE, 1)
    assert (job.timeout, job.retries) == (settings.email_job_timeout_s, settings.max_tries + 1)
    # saq's own enqueue would run a finished job again; ours refuses while it is kept.
    assert not await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)


async def test_a_queued_job_reads_back_as_the_job_saq_would_have_written(
    settings: Settings, queue: SaqJobs
) -> None:
    job_id = ticket_job_id(9, 2)
    await queue.enqueue(GENERATE_TICKET, 9, 2, "r9", job_id=job_id, defer_s=5)
    ours = await queue.queue.job(job_id)
    assert ours is not None
    limits = SaqLimits.of(settings)
    theirs = SaqJob(
        GENERATE_TICKET,
        kwargs={"args": [9, 2, "r9"]},
        queue=queue.queue,
        key=job_id,
        timeout=math.ceil(limits.timeout_s[GENERATE_TICKET]),
        retries=limits.tries,
        ttl=limits.keep_s,
        scheduled=ours.scheduled,
        queued=ours.queued,
        status=Status.QUEUED,
    )
    assert ours.to_dict() == theirs.to_dict()
    assert ours.scheduled > ours.queued / 1000  # deferred: due in the future, in seconds


async def test_depth_and_pending_list_every_unfinished_job_with_its_work(
    settings: Settings, queue: SaqJobs
) -> None:
    await queue.enqueue(SEND_MAGIC_LINK, "r2", "a@b.co", "http://t", job_id=login_job_id("r2"))
    await queue.enqueue(GENERATE_TICKET, 7, 1, "r3", job_id=ticket_job_id(7, 1), defer_s=30)
    ticket = await queue.queue.job(ticket_job_id(7, 1))
    assert ticket is not None and ticket.timeout == settings.ticket_job_timeout_s

    watch = Saq(settings)
    try:
        assert watch.depth() == {"ready": 1, "deferred": 1, "in_progress": 0}
        assert watch.pending() == [
            {
                "job_id": login_job_id("r2"),
                "function": SEND_MAGIC_LINK,
                "work_id": login_work_id("r2"),
            },
            {
                "job_id": ticket_job_id(7, 1),
                "function": GENERATE_TICKET,
                "work_id": order_work_id(7),
            },
        ]
        watch.reset()
        assert watch.depth() == {"ready": 0, "deferred": 0, "in_progress": 0}
        assert await queue.queue.job(ticket_job_id(7, 1)) is None
    finally:
        watch.close()


async def test_a_queue_without_redis_says_so(settings: Settings, store: Store) -> None:
    nowhere = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1"})
    with pytest.raises(QueueUnavailable):
        await Saq(nowhere).connect(store)
    with pytest.raises(QueueUnavailable):
        Saq(nowhere).depth()
