"""The ceilings of `make perf`: the queued target with a queue whose enqueue is one RPUSH, or,
for a queue in the database, one INSERT and its commit. Its login is the login, line for line
(body, id, header, answer); only the enqueue is the cheapest any queue there could make it, so
login ÷ this login is the queue's own cost.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from core.db import Store
from core.settings import Settings
from queues.base import JobQueue, JobQueueBase, Queue, redis_url_of
from targets import queued

CEILING_LIST = "perf:rpush"
CEILING_TABLE = "perf_insert"


class OneRpushJobs(JobQueueBase):
    """Only appends the job id to a list: no job, no duplicate check, no worker."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: Any = None,
    ) -> bool:
        await self.client.rpush(CEILING_LIST, job_id)  # type: ignore[misc]
        return True

    async def wait(self, job_id: str, timeout_s: float) -> None:
        pass

    async def close(self) -> None:
        await self.client.aclose()


class OneRpush(Queue):
    name = "one-rpush"
    worker = None

    async def connect(self, store: Store | None = None) -> JobQueue:
        return OneRpushJobs(Redis.from_url(redis_url_of(self.settings)))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return queued.create_app(settings, "delegated", OneRpush(settings))


class OneInsertJobs(JobQueueBase):
    """Only inserts the job id into a table, autocommitted: one round trip, no job, no worker."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: Any = None,
    ) -> bool:
        async with self.pool.connection() as conn:
            await conn.execute(f"INSERT INTO {CEILING_TABLE} VALUES (%s)", (job_id,))
        return True

    async def wait(self, job_id: str, timeout_s: float) -> None:
        pass

    async def close(self) -> None:
        await self.pool.close()


class OneInsert(Queue):
    name = "one-insert"
    worker = None

    async def connect(self, store: Store | None = None) -> JobQueue:
        url = self.settings.database_url or ""
        pool = AsyncConnectionPool(url, max_size=40, kwargs={"autocommit": True}, open=False)
        await pool.open()
        async with pool.connection() as conn:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {CEILING_TABLE} (job_id TEXT)")
        return OneInsertJobs(pool)


def create_db_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    return queued.create_app(settings, "delegated", OneInsert(settings))
