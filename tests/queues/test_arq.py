"""The one-round-trip enqueue writes jobs that arq's own workers run, with arq's job-id rules."""

from __future__ import annotations

import pickle

import pytest
from arq.constants import job_key_prefix
from arq.jobs import Job, JobStatus
from redis.asyncio import Redis

from core.contracts import SEND_MAGIC_LINK, login_job_id
from core.settings import Settings
from queues.saq import saq_job_key
from tests.support import connect_queue, drain


async def test_a_job_id_is_refused_while_queued_and_while_its_result_is_kept(
    settings: Settings, redis: Redis
) -> None:
    queue = await connect_queue("arq", settings)
    try:
        job_id = login_job_id("r1")
        args = ("r1", "nobody1@example.net", "http://t")
        assert await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=job_id)
        assert not await queue.enqueue(SEND_MAGIC_LINK, "r1", "x", "y", job_id=job_id)
        job = Job(job_id, queue.redis, _queue_name=settings.queue_name)
        assert await job.status() is JobStatus.queued
        info = await job.info()
        assert info is not None
        assert (info.function, info.args) == (
            "send_magic_link",
            ("r1", "nobody1@example.net", "http://t"),
        )

        await drain(settings)
        assert await job.status() is JobStatus.complete
        assert await job.result(timeout=1) == "unknown_user"
        assert not await queue.enqueue(SEND_MAGIC_LINK, "r1", "x", "y", job_id=job_id)
    finally:
        await queue.close()


async def test_a_deferred_job_waits_its_turn(settings: Settings, redis: Redis) -> None:
    queue = await connect_queue("arq", settings)
    try:
        await queue.enqueue(SEND_MAGIC_LINK, "r2", "a@b.co", "http://t", job_id="j2", defer_s=30)
        ((member, score),) = await redis.zrange(settings.queue_name, 0, -1, withscores=True)
        raw = await redis.get("arq:job:j2")
        assert member == b"j2"
        assert raw is not None
        data = pickle.loads(raw)
        assert score - data["et"] == 30_000
        assert 30_000 < await redis.pttl("arq:job:j2") <= 30_000 + 86_400_000
    finally:
        await queue.close()


@pytest.mark.parametrize("name", ["arq", "saq"])
async def test_an_enqueue_after_redis_forgot_its_scripts_sends_the_script_again(
    settings: Settings, redis: Redis, name: str
) -> None:
    """A restarted Redis has no scripts: the next enqueue must still queue its job, once."""
    queue = await connect_queue(name, settings)
    try:
        args = ("r3", "nobody3@example.net", "http://t")
        assert await queue.enqueue(SEND_MAGIC_LINK, *args, job_id="before")
        await redis.script_flush()
        assert await queue.enqueue(SEND_MAGIC_LINK, *args, job_id="after")
        assert not await queue.enqueue(SEND_MAGIC_LINK, *args, job_id="after")
        written = (job_key_prefix + "after", saq_job_key(settings.saq_queue_name, "after"))
        assert await redis.exists(*written) == 1  # the job itself, in its queue's layout
    finally:
        await queue.close()
