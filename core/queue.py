"""The seam between the code and the job queue (arq today), so another backend can be added."""

from __future__ import annotations

from typing import Any, Protocol

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError


class QueueUnavailable(Exception):
    pass


class JobQueue(Protocol):
    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        """Queue a job; False when a job with this id is already queued, running or kept."""
        ...

    async def close(self) -> None: ...


class ArqQueue:
    def __init__(self, redis: ArqRedis, queue_name: str, owned: bool = True) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.owned = owned

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str) -> ArqQueue:
        redis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue_name)
        return cls(redis, queue_name)

    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        try:
            job = await self.redis.enqueue_job(
                function, *args, _job_id=job_id, _queue_name=self.queue_name, _defer_by=defer_s
            )
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
        return job is not None

    async def close(self) -> None:
        if self.owned:
            await self.redis.aclose()
