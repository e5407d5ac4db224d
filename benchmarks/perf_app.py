"""The one-RPUSH ceiling of `make perf`: the delegated target with a queue whose enqueue is one
RPUSH. Its login is the login, line for line (body, id, header, answer); only the enqueue is
the cheapest any queue could make it, so login ÷ this login is the queue's own cost.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from redis.asyncio import Redis

from core.queue import JobQueue
from core.settings import Settings
from targets import delegated

CEILING_LIST = "perf:rpush"


class OneRpushQueue:
    """A queue that only appends the job id to a list: no job, no duplicate check, no worker."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        await self.client.rpush(CEILING_LIST, job_id)  # type: ignore[misc]
        return True

    async def wait(self, job_id: str, timeout_s: float) -> None:
        pass

    async def close(self) -> None:
        await self.client.aclose()


async def connect_one_rpush(settings: Settings, redis_url: str) -> JobQueue:
    return OneRpushQueue(Redis.from_url(redis_url))


def create_app(settings: Settings | None = None) -> FastAPI:
    return delegated.create_app(settings, "delegated", connect_one_rpush)
