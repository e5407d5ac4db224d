"""The `delegated` variant: async handlers validate, enqueue an arq job and answer at once.

The jobs (`jobs/tasks.py`) run the same `core` steps as `targets/sync.py`, in arq workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from core.contracts import (
    PROCESS_PAYMENT,
    SEND_MAGIC_LINK,
    login_job_id,
    payment_job_id,
)
from core.db import EventState, open_store
from core.queue import ArqQueue, JobQueue, QueueUnavailable
from core.settings import Settings
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

log = logging.getLogger("targets.delegated")


def queue_of(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.queue
    return queue


async def enqueue(
    queue: JobQueue, settings: Settings, function: str, *args: Any, job_id: str
) -> None:
    try:
        await queue.enqueue(function, *args, job_id=job_id)
    except QueueUnavailable as exc:
        log.warning("enqueue of %s failed: %s", job_id, exc)
        raise HTTPException(503, "the job queue is unavailable; try again later") from exc
    if settings.delegated_await_job_s:
        await queue.wait(job_id, settings.delegated_await_job_s)


# How a variant reaches its queue: the `saq` variant is these handlers with another one.
QueueFactory = Callable[[Settings, str], Awaitable[JobQueue]]


async def connect_arq(settings: Settings, redis_url: str) -> JobQueue:
    return await ArqQueue.connect(redis_url, settings.queue_name)


def create_app(
    settings: Settings | None = None,
    variant: str = "delegated",
    connect: QueueFactory = connect_arq,
) -> FastAPI:
    settings = settings or Settings()
    if settings.redis_url is None:
        raise SystemExit("REDIS_URL is not set: start the stack with `make serve` or set it")
    redis_url = settings.redis_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        app.state.queue = await connect(settings, redis_url)
        yield
        await app.state.queue.close()

    app = create_base_app(settings, variant, lifespan=lifespan)

    @app.post("/login", status_code=202, openapi_extra=LOGIN_OPENAPI)
    async def login(body: LoginBody, request: Request, response: Response) -> dict[str, str]:
        # The user is looked up in the job, so the answer cannot depend on whether it exists.
        login_id = issue_login_id(response)
        args = (login_id, body.email, link_base(request))
        job_id = login_job_id(login_id)
        await enqueue(queue_of(request), settings, SEND_MAGIC_LINK, *args, job_id=job_id)
        return LOGIN_ACCEPTED

    @app.get("/login/verify")
    async def verify(store: StoreDep, token: str | None = None) -> JSONResponse:
        return await asyncio.to_thread(verify_link, store, token)

    @app.post("/webhooks/payment", openapi_extra=PAYMENT_OPENAPI)
    async def payment(
        event: PaymentEventDep, request: Request, request_id: RequestIdDep, store: StoreDep
    ) -> dict[str, str]:
        if not event.pays:
            return {"status": "ignored"}
        order = await asyncio.to_thread(store.order, event.order_id)
        if order is None:
            raise HTTPException(404, f"unknown order {event.order_id}")
        state = await asyncio.to_thread(store.record_event, event.id, order.id, now())
        if state is EventState.PROCESSED:
            return {"status": "duplicate"}
        # A pending event is queued again: the job id makes a second copy a no-op.
        job_id = payment_job_id(event.id)
        args = (event.id, order.id, request_id)
        await enqueue(queue_of(request), settings, PROCESS_PAYMENT, *args, job_id=job_id)
        return {"status": "queued"}

    return app
