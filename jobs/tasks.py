"""The jobs: the same domain code as the sync variant, run by arq workers with retries."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from arq import Retry

from core import magic_links, tickets
from core.db import Store
from core.email import AsyncEmailClient, Email, Outcome, backoff_s
from core.logs import event
from core.payments import tickets_email
from core.queue import JobQueue
from core.settings import Settings

log = logging.getLogger("jobs")

JOB_EVENTS_KEY = "bench:job-events"  # one JSON record per job run, read by the runner
Ctx = dict[str, Any]


def work_id_of(function: str, args: Sequence[Any]) -> str:
    """The work id a queued job serves, from its function and positional args (as enqueued)."""
    if function == "send_magic_link" and len(args) >= 1:
        return f"login:{args[0]}"  # (request_id, address, link_base)
    if function == "process_payment" and len(args) >= 2:
        return f"order:{args[1]}"  # (event_id, order_id, request_id)
    if function in ("generate_ticket", "send_tickets") and len(args) >= 1:
        return f"order:{args[0]}"  # (order_id, seat, request_id) and (order_id, request_id)
    raise ValueError(f"no work id for {function}{tuple(args)!r}")


async def send_magic_link(ctx: Ctx, request_id: str, address: str, link_base: str) -> str:
    async def body() -> str:
        settings: Settings = ctx["settings"]
        message = await asyncio.to_thread(
            magic_links.prepare, ctx["store"], address, request_id, link_base, settings,
            time.time(),
        )  # fmt: skip
        if message is None:
            return "unknown_user"  # nothing to send, and the client was told the same
        return await deliver(ctx, "send_magic_link", message)

    return await tracked(ctx, "send_magic_link", f"login:{request_id}", body)


async def process_payment(ctx: Ctx, event_id: str, order_id: int, request_id: str) -> str:
    async def body() -> str:
        store: Store = ctx["store"]
        queue: JobQueue = ctx["queue"]
        order = await asyncio.to_thread(store.order, order_id)
        if order is None:
            return "unknown_order"
        await asyncio.to_thread(store.mark_paid, order_id, time.time())
        done = await asyncio.to_thread(store.ticket_seats, order_id)
        missing = [seat for seat in range(1, order.seats + 1) if seat not in done]
        for seat in missing:
            await queue.enqueue(
                "generate_ticket", order_id, seat, request_id, job_id=f"ticket:{order_id}:{seat}"
            )
        if not missing:
            await enqueue_send_tickets(queue, order_id, request_id)
        await asyncio.to_thread(store.mark_event_processed, event_id, time.time())
        return "ok"

    return await tracked(ctx, "process_payment", f"order:{order_id}", body)


async def generate_ticket(ctx: Ctx, order_id: int, seat: int, request_id: str) -> str:
    async def body() -> str:
        settings: Settings = ctx["settings"]
        store: Store = ctx["store"]
        try:
            path = await tickets.generate_async(settings, order_id, seat, ctx["job_try"])
        except tickets.TicketTimeout as exc:
            return await retry_or_dead_letter(ctx, "generate_ticket", f"order:{order_id}", str(exc))
        _, count = await asyncio.to_thread(store.add_ticket, order_id, seat, str(path), time.time())
        order = await asyncio.to_thread(store.order, order_id)
        if order is not None and count == order.seats:
            # Only the job whose insert completed the order gets here, except a retry of a job
            # that died after its insert; the job id turns any second enqueue into a no-op.
            await enqueue_send_tickets(ctx["queue"], order_id, request_id)
        return "ok"

    return await tracked(ctx, "generate_ticket", f"order:{order_id}", body)


async def send_tickets(ctx: Ctx, order_id: int, request_id: str) -> str:
    async def body() -> str:
        store: Store = ctx["store"]
        order = await asyncio.to_thread(store.order, order_id)
        if order is None or order.tickets_sent_at is not None:
            return "already_sent"
        message = await asyncio.to_thread(tickets_email, store, order, request_id)
        outcome = await deliver(ctx, "send_tickets", message)
        if outcome == "ok":
            await asyncio.to_thread(store.mark_tickets_sent, order_id, time.time())
        return outcome

    return await tracked(ctx, "send_tickets", f"order:{order_id}", body)


async def enqueue_send_tickets(queue: JobQueue, order_id: int, request_id: str) -> None:
    await queue.enqueue("send_tickets", order_id, request_id, job_id=f"send-tickets:{order_id}")


async def deliver(ctx: Ctx, function: str, message: Email) -> str:
    mailer: AsyncEmailClient = ctx["mailer"]
    result = await mailer.send(message)
    if result.outcome is Outcome.ACCEPTED:
        return "ok"
    if result.outcome is Outcome.PERMANENT:
        return await dead_letter(ctx, function, message.work_id, result.detail)
    return await retry_or_dead_letter(
        ctx, function, message.work_id, result.detail, result.retry_after_s
    )


async def retry_or_dead_letter(
    ctx: Ctx, function: str, work_id: str, reason: str, retry_after_s: float | None = None
) -> str:
    """arq keeps nothing and runs no hook when the last try fails: record it ourselves first."""
    settings: Settings = ctx["settings"]
    attempt: int = ctx["job_try"]
    if attempt >= settings.max_tries:
        return await dead_letter(ctx, function, work_id, f"gave up after {attempt} tries: {reason}")
    rng = random.Random(f"{settings.seed}:{ctx['job_id']}:{attempt}")
    raise Retry(
        defer=backoff_s(attempt, settings.retry_base_s, settings.retry_cap_s, rng, retry_after_s)
    )


async def dead_letter(ctx: Ctx, function: str, work_id: str, reason: str) -> str:
    store: Store = ctx["store"]
    await asyncio.to_thread(
        store.add_dead_letter, work_id, ctx["job_id"], function, ctx["job_try"], reason
    )
    event(log, "dead_letter", job_id=ctx["job_id"], work_id=work_id, reason=reason)
    return "dead_letter"


async def tracked(ctx: Ctx, function: str, work_id: str, body: Callable[[], Awaitable[str]]) -> str:
    """Run a job body, recording its outcome; a try past the limit becomes a dead letter.

    The worker registers each function with one try more than MAX_TRIES: a job whose worker
    died during its last try comes back once more and is dead-lettered here instead of
    disappearing (arq would fail it without running anything).
    """
    settings: Settings = ctx["settings"]
    started = time.time()
    outcome = "failed"
    try:
        if ctx["job_try"] > settings.max_tries:
            outcome = await dead_letter(
                ctx, function, work_id, "the worker died during the last try"
            )
        else:
            outcome = await body()
        return outcome
    except Retry:
        outcome = "retry"
        raise
    finally:
        record = {
            "job_id": ctx["job_id"], "function": function, "try": ctx["job_try"],
            "enqueued_at": ctx["enqueue_time"].timestamp(), "started_at": started,
            "ended_at": time.time(), "outcome": outcome, "work_id": work_id,
            "pid": os.getpid(),
        }  # fmt: skip
        event(log, "job_end", **record)
        await ctx["redis"].rpush(JOB_EVENTS_KEY, json.dumps(record))
