"""The jobs: the domain steps of `targets/sync.py`, run by whichever queue the variant hands off to.

Read top to bottom: the login, then the payment, which fans out into one `generate_ticket` job
per seat and fans back in to one `send_tickets` once the last ticket exists. Each step is the
same `core` call the sync handler makes; only its place differs. A provider's temporary failure
raises `RetryLater` with backoff; `@job` keeps the record of each try and the dead letter at the
end.
Last, `generate_order_tickets`: the mistake the fan-out fixes, kept to be measured (JOB_DESIGN).
"""

from __future__ import annotations

import logging
import time
from asyncio import to_thread
from collections.abc import Callable

from core import magic_links, orders, tickets
from core.contracts import (
    FAN_OUT,
    GENERATE_ORDER_TICKETS,
    GENERATE_TICKET,
    MONOLITHIC_NO_TIMEOUT,
    PROCESS_PAYMENT,
    SEND_MAGIC_LINK,
    SEND_TICKETS,
    order_tickets_job_id,
    send_tickets_job_id,
    ticket_job_id,
)
from core.db import unavailable_errors
from core.email import Email, Outcome
from jobs.bookkeeping import JobContext, RetryLater, job
from queues.base import JobQueue

log = logging.getLogger("jobs.tasks")


@job(SEND_MAGIC_LINK)
async def send_magic_link(ctx: JobContext, login_id: str, address: str, link_base: str) -> str:
    if await to_thread(ctx.store.email_sent, ctx.work_id):
        return "already_sent"  # an earlier try was accepted, then its job was cut short
    message = await to_thread(
        magic_links.prepare, ctx.store, address, login_id, link_base, ctx.settings, time.time()
    )
    if message is None:
        return "unknown_user"  # nothing to send, and the client was told the same
    return await deliver(ctx, message)


@job(PROCESS_PAYMENT)
async def process_payment(ctx: JobContext, event_id: str, order_id: int, request_id: str) -> str:
    order = await to_thread(ctx.store.order, order_id)
    if order is None:
        return "unknown_order"
    missing = await to_thread(orders.pay, ctx.store, order, time.time())
    if ctx.settings.job_design != FAN_OUT:
        job_id = order_tickets_job_id(order_id)
        await ctx.queue.enqueue(GENERATE_ORDER_TICKETS, order_id, request_id, job_id=job_id)
    else:
        for seat in missing:
            job_id = ticket_job_id(order_id, seat)
            await ctx.queue.enqueue(GENERATE_TICKET, order_id, seat, request_id, job_id=job_id)
        if not missing:
            await enqueue_send_tickets(ctx.queue, order_id, request_id)
    await to_thread(ctx.store.mark_event_processed, event_id, time.time())
    return "ok"


@job(GENERATE_TICKET)
async def generate_ticket(ctx: JobContext, order_id: int, seat: int, request_id: str) -> str:
    try:
        path = await ctx.ticket(order_id, seat)
    except tickets.TicketTimeout as exc:
        raise RetryLater(str(exc), defer_s=ctx.backoff_s()) from exc
    if await to_thread(orders.record_ticket, ctx.store, order_id, seat, path, time.time()):
        # Only the job whose insert completed the order gets here, except a retry of a job
        # that died after its insert; the job id turns any second enqueue into a no-op.
        await enqueue_send_tickets(ctx.queue, order_id, request_id)
    return "ok"


@job(SEND_TICKETS)
async def send_tickets(ctx: JobContext, order_id: int, request_id: str) -> str:
    return await email_tickets(ctx, order_id, request_id)


@job(GENERATE_ORDER_TICKETS)
async def generate_order_tickets(ctx: JobContext, order_id: int, request_id: str) -> str:
    """Every seat in turn, then the email. A retry makes every seat again; the queue's job
    timeout (none under monolithic-no-timeout) may end a try anywhere along the way."""
    order = await to_thread(ctx.store.order, order_id)
    if order is None:
        return "unknown_order"
    for seat in range(1, order.seats + 1):
        try:
            if ctx.settings.job_design == MONOLITHIC_NO_TIMEOUT:
                path = ctx.ticket_blocking(order_id, seat)
            else:
                path = await ctx.ticket(order_id, seat)
        except tickets.TicketTimeout as exc:
            raise RetryLater(str(exc), defer_s=ctx.backoff_s()) from exc
        await to_thread(orders.record_ticket, ctx.store, order_id, seat, path, time.time())
    return await email_tickets(ctx, order_id, request_id)


async def email_tickets(ctx: JobContext, order_id: int, request_id: str) -> str:
    """The order's tickets email, once: sent, then recorded as sent."""
    message = await to_thread(orders.tickets_email, ctx.store, order_id, request_id)
    if message is None:
        return "already_sent"
    outcome = await deliver(ctx, message)
    if outcome == "ok":
        await recorded(orders.mark_sent, ctx.store, order_id, time.time())
    return outcome


async def recorded(write: Callable[..., object], *args: object) -> None:
    """Write the record of an email the provider accepted. A store that does not answer is
    not retried: a retry would send the email again (the same window as a crash here)."""
    try:
        await to_thread(write, *args)
    except unavailable_errors() as exc:
        log.warning("an accepted email left unrecorded (%r): a later try would send it again", exc)


async def enqueue_send_tickets(queue: JobQueue, order_id: int, request_id: str) -> None:
    await queue.enqueue(SEND_TICKETS, order_id, request_id, job_id=send_tickets_job_id(order_id))


async def deliver(ctx: JobContext, message: Email) -> str:
    """Send once; a refusal is final, anything the provider may take later is retried.

    The sent record, written right after acceptance, stops a later try of this job from sending
    again. Without provider idempotency a window remains: a response lost after the provider
    accepted (or a crash before the record is written) leaves no record, and the retry is a
    second email.
    """
    result = await ctx.mailer.send(message)
    if result.outcome is Outcome.ACCEPTED:
        await recorded(ctx.store.mark_email_sent, message.work_id, time.time())
        return "ok"
    if result.outcome is Outcome.PERMANENT:
        return await ctx.dead_letter(result.detail)
    raise RetryLater(result.detail, defer_s=ctx.backoff_s(result.retry_after_s))
