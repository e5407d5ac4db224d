"""A queue variant's target plus one calibration route: validate the login body, do one RPUSH.

`perf_app:create_app` serves the delegated (arq) target, `perf_app:create_saq_app` the saq one.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from redis.asyncio import Redis

from core.settings import Settings
from targets import delegated, saq
from targets.base import LOGIN_ACCEPTED, LoginBody


def with_one_rpush(app: FastAPI, settings: Settings) -> FastAPI:
    """The ceiling of any enqueue: one round trip to Redis, nothing else."""
    client = Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")

    @app.post("/perf/rpush", status_code=202)
    async def one_round_trip(body: LoginBody) -> dict[str, str]:
        await client.rpush("perf:rpush", body.email)
        return LOGIN_ACCEPTED

    return app


def _factory(create: Callable[[Settings], FastAPI]) -> Callable[[Settings | None], FastAPI]:
    def factory(settings: Settings | None = None) -> FastAPI:
        settings = settings or Settings()
        return with_one_rpush(create(settings), settings)

    return factory


create_app = _factory(delegated.create_app)
create_saq_app = _factory(saq.create_app)
