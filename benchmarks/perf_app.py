"""A queue variant's target plus two calibration routes, each validating the login body: one
RPUSH, the ceiling of any enqueue; and the login's job enqueued alone, the queue's part of it.

`perf_app:create_app` serves the delegated (arq) target, `perf_app:create_saq_app` the saq one.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from redis.asyncio import Redis

from core.contracts import SEND_MAGIC_LINK
from core.settings import Settings
from targets import delegated, saq
from targets.base import LOGIN_ACCEPTED, LoginBody


def with_calibration(app: FastAPI, settings: Settings) -> FastAPI:
    client = Redis.from_url(settings.redis_url or "redis://127.0.0.1:6379/0")

    @app.post("/perf/rpush", status_code=202)
    async def one_round_trip(body: LoginBody) -> dict[str, str]:
        """The ceiling of any enqueue: one round trip to Redis, nothing else."""
        await client.rpush("perf:rpush", body.email)
        return LOGIN_ACCEPTED

    @app.post("/perf/enqueue", status_code=202)
    async def enqueue_alone(body: LoginBody, request: Request) -> dict[str, str]:
        """The login's job on the variant's queue, without the login's own id and header."""
        queue = delegated.queue_of(request)
        args = (body.email, body.email, "http://127.0.0.1")  # each address is new: a new job
        await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=f"perf:{body.email}")
        return LOGIN_ACCEPTED

    return app


def _factory(create: Callable[[Settings], FastAPI]) -> Callable[[Settings | None], FastAPI]:
    def factory(settings: Settings | None = None) -> FastAPI:
        settings = settings or Settings()
        return with_calibration(create(settings), settings)

    return factory


create_app = _factory(delegated.create_app)
create_saq_app = _factory(saq.create_app)
