"""The queue variants: async handlers validate, hand the work to the variant's queue and answer.

The same routes and bodies as `targets/sync.py`; the jobs (`jobs/tasks.py`) run its `core` steps
wherever the queue runs them: its workers, or this process after the response (`background`).
Which queue is the variant's row in `core.contracts.VARIANTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from core import orders, tracing
from core.contracts import (
    PROCESS_PAYMENT,
    SEND_MAGIC_LINK,
    login_job_id,
    payment_job_id,
    variant,
)
from core.db import Store, open_store
from core.settings import Settings
from queues import queue_of
from queues.base import JobQueue, Queue, QueueUnavailable, bounded
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

log = logging.getLogger("targets.queued")


async def hand_off(
    request: Request,
    background: BackgroundTasks,
    function: str,
    *args: Any,
    job_id: str,
    change: Callable[[Store], bool] | None = None,
) -> bool:
    """Give the job to the variant's queue (a duplicate id is a no-op); 503 if it cannot, or if
    it does not answer within QUEUE_TIMEOUT_S.

    With `change`, the state change that owes the job: the queue commits it with the job
    (in one transaction where the queue lives in the store), and the job is queued only when
    `change` returns True; what it returned.
    """
    queue: JobQueue = request.app.state.queue
    settings: Settings = request.app.state.settings
    try:
        if change is None:
            call = queue.enqueue(function, *args, job_id=job_id, background=background)
            await bounded(call, settings.queue_timeout_s)
        else:
            store = request.app.state.store
            call = queue.commit_with(
                store, change, function, *args, job_id=job_id, background=background
            )
            if not await bounded(call, settings.queue_timeout_s):
                return False
    except (QueueUnavailable, TimeoutError) as exc:
        log.warning("hand-off of %s failed: %r", job_id, exc)
        raise HTTPException(503, "the job queue is unavailable; try again later") from exc
    if settings.delegated_await_job_s:
        with contextlib.suppress(TimeoutError):
            wait_s = settings.delegated_await_job_s
            await bounded(queue.wait(job_id, wait_s), wait_s)
    return True


def create_app(
    settings: Settings | None = None, name: str = "delegated", queue: Queue | None = None
) -> FastAPI:
    """The variant's target; `queue` replaces the variant's own (the benchmarks' ceiling)."""
    settings = settings or Settings()
    adapter = queue or queue_of(name, settings)
    if adapter is None:
        raise ValueError(f"variant {name!r} hands no work to a queue")
    adapter.check()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        app.state.queue = await adapter.connect(app.state.store)
        yield
        await app.state.queue.close()
        tracing.flush()

    app = create_base_app(settings, name, lifespan=lifespan)

    @app.post("/login", status_code=202, openapi_extra=LOGIN_OPENAPI)
    async def login(
        body: LoginBody, request: Request, response: Response, background: BackgroundTasks
    ) -> dict[str, str]:
        # The user is looked up in the job, so the answer cannot depend on whether it exists.
        login_id = issue_login_id(response)
        args = (login_id, body.email, link_base(request))
        await hand_off(request, background, SEND_MAGIC_LINK, *args, job_id=login_job_id(login_id))
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
        # The order's read is bounded as its hand-off is: a paused database answers 503 too.
        settings: Settings = request.app.state.settings
        try:
            read = asyncio.to_thread(store.order, event.order_id)
            order = await bounded(read, settings.queue_timeout_s, "the database")
        except TimeoutError as exc:
            log.warning("the order read of %s failed: %r", event.id, exc)
            raise HTTPException(503, "the database is unavailable; try again later") from exc
        if order is None:
            raise HTTPException(404, f"unknown order {event.order_id}")
        # Record the event and mark the order paid, then queue the job: in one transaction
        # where the queue lives in the store. A pending event is handed off again: the job id
        # makes a second copy a no-op.
        paid = partial(orders.record_payment, event_id=event.id, order_id=order.id, now=now())
        args = (event.id, order.id, request_id)
        job_id = payment_job_id(event.id)
        owed = await hand_off(
            request, background, PROCESS_PAYMENT, *args, job_id=job_id, change=paid
        )
        return {"status": "queued" if owed else "duplicate"}

    return app


def factory(name: str) -> Callable[[Settings | None], FastAPI]:
    def create(settings: Settings | None = None) -> FastAPI:
        return create_app(settings, name)

    return create


def __getattr__(name: str) -> Callable[[Settings | None], FastAPI]:
    # `uvicorn targets.queued:saq --factory` asks for the variant by name.
    try:
        variant(name)
    except ValueError:
        raise AttributeError(name) from None
    return factory(name)
