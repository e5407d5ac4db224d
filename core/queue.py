"""The seam between the code and the job queue (arq today), so another backend can be added."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import Job, serialize_job
from arq.utils import timestamp_ms
from redis.exceptions import RedisError


class QueueUnavailable(Exception):
    pass


class JobQueue(Protocol):
    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        """Queue a job; False when a job with this id is already queued, running or kept."""
        ...

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Wait until the job has finished, however it ended, or the timeout passed."""
        ...

    async def close(self) -> None: ...


# arq's enqueue_job does WATCH, EXISTS, then MULTI/PSETEX/ZADD/EXEC: three round trips. This
# script makes the same checks and writes the same keys atomically in one.
ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


class ArqQueue:
    """Jobs written exactly as arq's `enqueue_job` writes them, for arq's workers to run."""

    def __init__(self, redis: ArqRedis, queue_name: str, owned: bool = True) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.owned = owned
        self.script = redis.register_script(ENQUEUE)

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str) -> ArqQueue:
        redis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue_name)
        return cls(redis, queue_name)

    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        enqueued_ms = timestamp_ms()
        defer_ms = round(defer_s * 1000) if defer_s else 0
        job = serialize_job(function, args, {}, None, enqueued_ms)
        keys = [job_key_prefix + job_id, result_key_prefix + job_id, self.queue_name]
        expires_ms = defer_ms + self.redis.expires_extra_ms
        try:
            added = await self.script(keys, [expires_ms, job, enqueued_ms + defer_ms, job_id])
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
        return bool(added)

    async def wait(self, job_id: str, timeout_s: float) -> None:
        job = Job(job_id, self.redis, _queue_name=self.queue_name)
        with contextlib.suppress(Exception):  # the job's own failure is not the caller's
            await job.result(timeout=timeout_s, poll_delay=0.05)

    async def close(self) -> None:
        if self.owned:
            await self.redis.aclose()
