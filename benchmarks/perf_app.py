"""The delegated target plus one calibration route: validate the login body, do one RPUSH."""

from __future__ import annotations

from fastapi import FastAPI, Request

from core.settings import Settings
from targets import delegated
from targets.base import LOGIN_ACCEPTED, LoginBody


def create_app(settings: Settings | None = None) -> FastAPI:
    app = delegated.create_app(settings)

    @app.post("/perf/rpush", status_code=202)
    async def one_round_trip(body: LoginBody, request: Request) -> dict[str, str]:
        await request.app.state.queue.redis.rpush("perf:rpush", body.email)
        return LOGIN_ACCEPTED

    return app
