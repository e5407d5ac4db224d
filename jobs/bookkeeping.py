"""What every job shares and no job should have to read: its context, record and dead letter.

A queue runs a job function as `function(clients, attempt, *args)`; each queue adapter builds
the `Attempt` from its library's job (with the trace context its hand-off carried) and maps
`RetryLater` to its library's retry. `@job` traces each try (`core.tracing.consumer`), writes
one record per try to `JOB_EVENTS_KEY` (the runner reads it) and a dead letter in the store
when the work is given up: arq keeps no record of a job that failed for good, and runs no
hook when the last try fails.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol

from opentelemetry import trace

from core import tickets, tracing
from core.contracts import JOB_EVENTS_KEY, work_id_of_job
from core.db import Store, unavailable_errors
from core.email import AsyncEmailClient, backoff_s
from core.logs import event
from core.settings import Settings
from queues.base import JobQueue

log = logging.getLogger("jobs")

P = ParamSpec("P")


class Records(Protocol):
    """Where the records of job tries go (a Redis client, or the in-process queue's stand-in)."""

    def rpush(self, key: str, value: str, /) -> Any: ...  # awaited


@dataclass(frozen=True)
class Clients:
    """Made once per worker by its startup, shared by every job it runs."""

    settings: Settings
    store: Store
    mailer: AsyncEmailClient
    queue: JobQueue
    records: Records


@dataclass(frozen=True)
class Attempt:
    """Which try of which job this is, as the queue running it tells."""

    job_id: str
    job_try: int
    enqueued_at: float  # unix seconds
    # The queue tries a job past its timeout again (saq); arq and the in-process runner do not.
    timeouts_retried: bool = False
    # The trace context the hand-off carried in the job's metadata ({} when tracing is off).
    trace: Mapping[str, str] = field(default_factory=dict)


class RetryLater(Exception):
    """Try this job again, not before `defer_s` seconds; after the last try, dead-letter it."""

    def __init__(self, reason: str, defer_s: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.defer_s = defer_s


JobFunction = Callable[..., Awaitable[str]]  # (clients, attempt, *args): what a queue runs


@dataclass
class Tally:
    """What a try did, counted as it happens: a try cut short by its timeout keeps its count."""

    tickets_run: int = 0


@dataclass(frozen=True)
class JobContext:
    """What a job receives as `ctx`: the worker's clients, and which try of which work this is."""

    settings: Settings
    store: Store
    mailer: AsyncEmailClient
    queue: JobQueue
    function: str
    job_id: str
    job_try: int
    work_id: str
    tally: Tally = field(default_factory=Tally)

    async def ticket(self, order_id: int, seat: int) -> Path:
        """Make one seat's ticket in a subprocess, killed at TICKET_TIMEOUT_S."""
        self.tally.tickets_run += 1
        return await tickets.generate_async(self.settings, order_id, seat, self.job_try)

    def ticket_blocking(self, order_id: int, seat: int) -> Path:
        """The post's first "fix": no timeout, and the wait blocks this worker's event loop."""
        self.tally.tickets_run += 1
        return tickets.generate_sync(self.settings, order_id, seat, self.job_try, timeout=False)

    def ran_out_of_time(self, started: float) -> bool:
        """Whether a cancelled try had used its whole timeout (else its worker stopped it)."""
        timeout_s = self.settings.job_timeout_s(self.function)
        # The queue starts the clock a moment before the body does.
        return timeout_s is not None and time.time() - started >= 0.95 * timeout_s

    def backoff_s(self, retry_after_s: float | None = None) -> float:
        """Capped exponential backoff with full jitter, seeded per job and try."""
        s = self.settings
        rng = random.Random(f"{s.seed}:{self.job_id}:{self.job_try}")
        return backoff_s(self.job_try, s.retry_base_s, s.retry_cap_s, rng, retry_after_s)

    async def dead_letter(self, reason: str) -> str:
        await asyncio.to_thread(
            self.store.add_dead_letter,
            self.work_id,
            self.job_id,
            self.function,
            self.job_try,
            reason,
        )
        event(log, "dead_letter", job_id=self.job_id, work_id=self.work_id, reason=reason)
        trace_event("dead_letter", reason=reason)
        return "dead_letter"


JobBody = Callable[Concatenate[JobContext, P], Awaitable[str]]


def trace_event(name: str, **attributes: str | float) -> None:
    """Mark the try's span: a retry asked for, a dead letter written."""
    trace.get_current_span().add_event(name, attributes)


async def retrying_the_store(body: Awaitable[str], context: JobContext) -> str:
    """The try; a store that does not answer (down, paused, restarted) is retried later, as a
    provider that does not answer is: no queue retries an error it does not know."""
    try:
        return await body
    except unavailable_errors() as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RetryLater(f"the store: {reason}", defer_s=context.backoff_s()) from exc


def job(name: str) -> Callable[[JobBody[P]], JobFunction]:
    """Register `body` under the contract's job name, with its record and dead letter.

    Each queue gives a job one try more than MAX_TRIES: a job whose worker died during its last
    try comes back once more and is dead-lettered here instead of disappearing (arq would fail
    it without running anything).
    """

    def decorate(body: JobBody[P]) -> JobFunction:
        @functools.wraps(body)
        async def run(clients: Clients, attempt: Attempt, *args: P.args, **kwargs: P.kwargs) -> str:
            context = JobContext(
                clients.settings,
                clients.store,
                clients.mailer,
                clients.queue,
                function=name,
                job_id=attempt.job_id,
                job_try=attempt.job_try,
                work_id=work_id_of_job(name, args),
            )
            carried = attempt.trace
            with tracing.consumer(
                name, attempt.job_id, attempt.job_try, context.work_id, carried
            ) as span:
                started = time.time()
                outcome = "failed"
                try:
                    if context.job_try > context.settings.max_tries:
                        # (or, on saq, the last try ran out of time)
                        outcome = await context.dead_letter("the worker died during the last try")
                    else:
                        outcome = await retrying_the_store(body(context, *args, **kwargs), context)
                    return outcome
                except RetryLater as retry:
                    if context.job_try < context.settings.max_tries:
                        outcome = "retry"
                        trace_event("retry", reason=retry.reason, defer_s=retry.defer_s)
                        raise
                    reason = f"gave up after {context.job_try} tries: {retry.reason}"
                    outcome = await context.dead_letter(reason)
                    return outcome
                except asyncio.CancelledError:
                    if not context.ran_out_of_time(started):
                        outcome = "cancelled"  # a worker shutting down: the queue runs it again
                        raise
                    outcome = "timeout"
                    if not attempt.timeouts_retried:
                        await context.dead_letter(f"timed out after {time.time() - started:.1f}s")
                    raise
                finally:
                    record = {
                        "job_id": context.job_id,
                        "function": name,
                        "try": context.job_try,
                        "enqueued_at": attempt.enqueued_at,
                        "started_at": started,
                        "ended_at": time.time(),
                        "outcome": outcome,
                        "work_id": context.work_id,
                        "pid": os.getpid(),
                        "tickets_run": context.tally.tickets_run,
                    }
                    event(log, "job_end", **record)
                    await clients.records.rpush(JOB_EVENTS_KEY, json.dumps(record))
                    span.set_attribute(tracing.OUTCOME, outcome)

        run.__name__ = run.__qualname__ = name
        return run

    return decorate
