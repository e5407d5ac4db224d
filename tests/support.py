"""Test helpers: real uvicorn servers in threads and real arq burst workers."""

from __future__ import annotations

import json
from typing import Any

import httpx
from arq.worker import Worker, create_worker
from redis.asyncio import Redis

from core.contracts import JOB_EVENTS_KEY
from core.serving import serve as serve  # the servers of every test
from core.settings import Settings
from jobs.worker import worker_settings


def burst_worker(settings: Settings, **overrides: Any) -> Worker:
    """A worker that runs every queued job, deferred retries included, then returns."""
    options: dict[str, Any] = {"burst": True, "handle_signals": False, **overrides}
    return create_worker(worker_settings(settings), **options)


async def drain(settings: Settings, **overrides: Any) -> Worker:
    worker = burst_worker(settings, **overrides)
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


def messages(provider: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    """What the fake provider accepted, filtered by its capture API."""
    response = provider.get("/control/messages", params=filters)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["messages"]
    return found


async def job_events(redis: Redis) -> list[dict[str, Any]]:
    """Every job run the workers recorded, oldest first."""
    raw: list[bytes] = await redis.lrange(JOB_EVENTS_KEY, 0, -1)  # type: ignore[misc]
    return [json.loads(item) for item in raw]
