"""The `background` variant: async handlers validate, answer, then work in this process.

The same routes, bodies and jobs (`jobs/tasks.py`) as `targets/delegated.py`; the work runs
as FastAPI `BackgroundTasks` after the response, and its fan-out as tasks of this process. No
Redis holds it: work still pending when the process dies is gone, and nobody is told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from core.contracts import PROCESS_PAYMENT, SEND_MAGIC_LINK, login_job_id, payment_job_id
from core.db import EventState, open_store
from core.settings import Settings
from jobs.inprocess import InProcessQueue
from targets.base import (
    LOGIN_ACCEPTED,
    LOGIN_OPENAPI,
    PAYMENT_OPENAPI,
    LoginBody,
    PaymentEventDep,
    RequestIdDep,
    StoreDep,
    create_base_app,
    issue_login_id,
    link_base,
    now,
)
from targets.verify import verify_link


def schedule(
    background: BackgroundTasks, request: Request, function: str, *args: Any, job_id: str
) -> None:
    queue: InProcessQueue = request.app.state.queue
    if queue.claim(job_id):
        background.add_task(queue.run, function, args, job_id)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        # Redis only takes the jobs' records, for the analysis; the work never touches it.
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        app.state.queue = InProcessQueue(settings, app.state.store, redis)
        yield
        # A graceful shutdown (SIGTERM) lets running work finish for as long as one email
        # job may take; what is still waiting for a retry after that is lost.
        await app.state.queue.close(grace_s=settings.email_job_timeout_s)
        if redis is not None:
            await redis.aclose()

    app = create_base_app(settings, "background", lifespan=lifespan)

    @app.post("/login", status_code=202, openapi_extra=LOGIN_OPENAPI)
    async def login(
        body: LoginBody, request: Request, response: Response, background: BackgroundTasks
    ) -> dict[str, str]:
        # The user is looked up after the answer, so it cannot depend on whether it exists.
        login_id = issue_login_id(response)
        args = (login_id, body.email, link_base(request))
        schedule(background, request, SEND_MAGIC_LINK, *args, job_id=login_job_id(login_id))
        return LOGIN_ACCEPTED

    @app.get("/login/verify")
    async def verify(store: StoreDep, token: str | None = None) -> JSONResponse:
        return await asyncio.to_thread(verify_link, store, token)

    @app.post("/webhooks/payment", openapi_extra=PAYMENT_OPENAPI)
    async def payment(
        event: PaymentEventDep,
        request: Request,
        request_id: RequestIdDep,
        store: StoreDep,
        background: BackgroundTasks,
    ) -> dict[str, str]:
        if not event.pays:
            return {"status": "ignored"}
        order = await asyncio.to_thread(store.order, event.order_id)
        if order is None:
            raise HTTPException(404, f"unknown order {event.order_id}")
        state = await asyncio.to_thread(store.record_event, event.id, order.id, now())
        if state is EventState.PROCESSED:
            return {"status": "duplicate"}
        args = (event.id, order.id, request_id)
        schedule(background, request, PROCESS_PAYMENT, *args, job_id=payment_job_id(event.id))
        return {"status": "queued"}

    return app
