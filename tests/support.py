"""Test helpers: real uvicorn servers in threads and real arq burst workers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from arq.worker import Worker, create_worker
from redis.asyncio import Redis

from core.settings import Settings
from jobs.tasks import JOB_EVENTS_KEY
from jobs.worker import worker_settings


class ThreadedServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to pytest's main thread.
        yield


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Run `app` on a real uvicorn server on a free loopback port; yield its base URL."""
    options: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "log_level": "warning", **config}
    server = ThreadedServer(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{options['host']}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
