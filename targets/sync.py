"""The `sync` variant: blocking handlers on a bounded thread pool do all the work in the request.

The domain steps are the `core` calls `jobs/tasks.py` makes too; here they run now, in order.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse

from core import magic_links, orders, tickets, tracing
from core.db import EventState, Store, open_store
from core.email import Email, EmailClient, Outcome, backoff_s
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


async def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


class Mailer:
    """Sends inside the request, retrying the provider a bounded number of times."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = EmailClient(settings)
        self.rng = random.Random(settings.seed)

    def send(self, message: Email) -> None:
        for attempt in range(1, self.settings.sync_provider_tries + 1):
            result = self.client.send(message)
            if result.outcome is Outcome.ACCEPTED:
                return
            if result.outcome is Outcome.PERMANENT:
                raise HTTPException(502, f"the email provider refused the message: {result.detail}")
            if attempt < self.settings.sync_provider_tries:
                time.sleep(
                    backoff_s(attempt, self.settings.sync_retry_delay_s, 2.0, self.rng, None)
                )
        raise HTTPException(
            503,
            f"the email provider is unavailable ({result.detail}); try again later",
            headers={"Retry-After": "5"},
        )


MailerDep = Annotated[Mailer, Depends(get_mailer)]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.sync_threads
        app.state.store = open_store(settings)
        app.state.mailer = Mailer(settings)
        yield
        app.state.mailer.client.close()
        tracing.flush()

    app = create_base_app(settings, "sync", lifespan=lifespan)

    @app.post("/login", status_code=202, openapi_extra=LOGIN_OPENAPI)
    def login(
        body: LoginBody,
        request: Request,
        response: Response,
        store: StoreDep,
        mailer: MailerDep,
    ) -> dict[str, str]:
        login_id = issue_login_id(response)
        message = magic_links.prepare(
            store, body.email, login_id, link_base(request), settings, now()
        )
        if message is not None:
            mailer.send(message)
        return LOGIN_ACCEPTED

    @app.get("/login/verify")
    def verify(store: StoreDep, token: str | None = None) -> JSONResponse:
        return verify_link(store, token)

    @app.post("/webhooks/payment", openapi_extra=PAYMENT_OPENAPI)
    def payment(
        event: PaymentEventDep, request_id: RequestIdDep, store: StoreDep, mailer: MailerDep
    ) -> dict[str, str]:
        if not event.pays:
            return {"status": "ignored"}
        order = store.order(event.order_id)
        if order is None:
            raise HTTPException(404, f"unknown order {event.order_id}")
        if store.record_event(event.id, order.id, now()) is EventState.PROCESSED:
            return {"status": "duplicate"}
        for seat in orders.pay(store, order, now()):
            make_ticket(settings, store, order.id, seat)
        message = orders.tickets_email(store, order.id, request_id)
        if message is not None:
            mailer.send(message)
            orders.mark_sent(store, order.id, now())
        store.mark_event_processed(event.id, now())
        return {"status": "processed"}

    return app


def make_ticket(settings: Settings, store: Store, order_id: int, seat: int) -> None:
    """One retry for a killed generator, then give up and let the processor redeliver."""
    for attempt in (1, 2):
        try:
            path = tickets.generate_sync(settings, order_id, seat, attempt)
        except tickets.TicketTimeout:
            continue
        orders.record_ticket(store, order_id, seat, path, now())
        return
    raise HTTPException(503, f"ticket generation for seat {seat} timed out; redeliver later")
