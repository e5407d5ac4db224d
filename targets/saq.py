"""The `saq` variant: the handlers of `targets/delegated.py`, enqueueing saq jobs instead of arq's.

The jobs are the same functions, run by `saq jobs.saq_worker.settings`.
"""

from __future__ import annotations

from fastapi import FastAPI

from core.queue import JobQueue, SaqLimits, SaqQueue
from core.settings import Settings
from targets import delegated


async def connect_saq(settings: Settings, redis_url: str) -> JobQueue:
    return await SaqQueue.connect(redis_url, settings.saq_queue_name, SaqLimits.of(settings))


def create_app(settings: Settings | None = None) -> FastAPI:
    return delegated.create_app(settings, "saq", connect_saq)
