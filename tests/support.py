"""Test helpers: real uvicorn servers in threads, arq burst workers, worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from arq.worker import Worker, create_worker
from redis.asyncio import Redis

from core.contracts import JOB_EVENTS_KEY
from core.processes import stop
from core.redis_server import find_redis_server, redis_command, wait_for_ping
from core.serving import serve as serve  # the servers of every test
from core.settings import Settings
from queues import adapter
from queues.arq import worker_settings
from runner.commands import worker_command


@contextmanager
def redis_process(
    port: int, directory: Path, appendonly: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """A private redis-server, for a test that crashes or pauses it."""
    process = subprocess.Popen(
        redis_command(find_redis_server(), port, directory, appendonly),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_ping(port, 10.0, process)
        yield process
    finally:
        process.kill()
        process.wait()


async def connect_queue(name: str, settings: Settings) -> Any:
    """A queue adapter's connection, as a target opens it (for the tests: its attributes too)."""
    return await adapter(name)(settings).connect()


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """A queue worker's environment: the test's Redis, store, provider and retry settings."""
    return {
        **os.environ,
        "REDIS_URL": str(settings.redis_url),
        "DATABASE_PATH": str(settings.database_path),
        "TICKETS_DIR": str(settings.tickets_dir),
        "PROVIDER_URL": settings.provider_url,
        "MAX_TRIES": str(settings.max_tries),
        "RETRY_BASE_S": str(settings.retry_base_s),
        "RETRY_CAP_S": str(settings.retry_cap_s),
        "POLL_DELAY_S": "0.02",
        "LOG_LEVEL": "WARNING",
        **({"DATABASE_URL": settings.database_url} if settings.database_url else {}),
        **extra,
    }


@contextmanager
def workers(
    variant: str, env: dict[str, str], count: int = 1, stop_timeout_s: float = 5.0
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker processes of a variant's queue, started as the runner starts them."""
    started = [
        subprocess.Popen(worker_command(sys.executable, variant), env=env) for _ in range(count)
    ]
    try:
        yield started
    finally:
        for worker in started:
            stop(worker, timeout_s=stop_timeout_s)


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
