"""The database queue's worker: `python -m queues.procrastinate_worker` runs the shared jobs."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from typing import Any

import psycopg
from procrastinate import App, JobContext
from procrastinate import exceptions as pc
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg_pool import PoolTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import logs, tracing
from core.db import DatabaseError, open_store
from core.email import AsyncEmailClient
from core.settings import Settings
from jobs.bookkeeping import Attempt, Clients, JobFunction, RetryLater
from jobs.registry import FUNCTIONS
from queues.base import redis_url_of
from queues.procrastinate import ProcrastinateJobs, connector, ensure_schema

log = logging.getLogger("queues.procrastinate")
CLIENTS = "clients"  # where the worker keeps its `Clients` in procrastinate's job context
RECONNECT_S = 1.0
WORKER_WAIT_S = 30.0
PROMPT_S = 1.0  # a look at the stalled jobs slower than this: the database itself stalled
LOST = (pc.ConnectorException, psycopg.Error, DatabaseError, PoolTimeout, OSError)


class KeptRecords:
    """The records of tries go to the harness's Redis; while it is down or stalled they wait
    here, so a Redis fault, which this queue does not depend on, fails no job."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.waiting: list[tuple[str, str]] = []
        self.lock = asyncio.Lock()  # one flush at a time: each record is pushed once

    async def rpush(self, key: str, value: str, /) -> None:
        self.waiting.append((key, value))
        await self.flush()

    async def flush_every(self, period_s: float) -> None:
        """Records left waiting reach Redis once it is back, even if no job ends after that."""
        while True:
            await asyncio.sleep(period_s)
            await self.flush()

    async def flush(self) -> None:
        if not self.waiting or self.lock.locked():
            return  # the flush under way takes these too, or leaves them for the next
        async with self.lock:
            try:
                while self.waiting:
                    await self.redis.rpush(*self.waiting[0])  # type: ignore[misc]
                    self.waiting.pop(0)
            except (RedisError, OSError) as exc:
                log.warning("%d job records wait for Redis: %s", len(self.waiting), exc)


class RetryAsAsked(BaseRetryStrategy):
    """A job that raised RetryLater runs again no sooner than it asked; nothing else is retried
    (the job itself decides: after its last try it dead-letters instead of raising)."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLater):
            later = datetime.timedelta(seconds=exception.defer_s)
            return RetryDecision(retry_at=datetime.datetime.now(datetime.UTC) + later)
        return None


def on_procrastinate(name: str, function: JobFunction, settings: Settings) -> Any:
    """A job function as procrastinate calls it: its row read into an `Attempt`, with the
    function's timeout (procrastinate has none of its own)."""

    async def run(
        context: JobContext,
        args: list[Any],
        job_id: str,
        enqueued_at: float,
        trace: dict[str, str] | None = None,
    ) -> str:
        clients: Clients = context.additional_context[CLIENTS]
        # procrastinate counts finished tries; a stalled job's retry counts as one.
        attempt = Attempt(job_id, context.job.attempts + 1, enqueued_at, trace=trace or {})
        async with asyncio.timeout(settings.job_timeout_s(name)):
            return await function(clients, attempt, *args)

    run.__name__ = run.__qualname__ = name
    return run


def build_app(settings: Settings) -> App:
    # A worker waits out a stall (procrastinate's own 30 s): one that gave up would start again,
    # and a starting procrastinate worker forgets every worker whose heartbeat is old, live
    # ones too, so their running jobs would run twice.
    app = App(connector=connector(settings, settings.worker_max_jobs + 2, WORKER_WAIT_S))
    for name, function in FUNCTIONS.items():
        task = on_procrastinate(name, function, settings)
        app.task(name=name, pass_context=True, retry=RetryAsAsked())(task)
    return app


async def retry_stalled(app: App, settings: Settings) -> None:
    """procrastinate runs a dead worker's job again only when asked: ask, every few seconds.

    A worker beats its heart every second; one silent for `procrastinate_stalled_s` is dead.
    But a paused database silences every worker: a round that found it slow (or failed) makes
    the next one only look, so live workers beat again before anyone is judged.
    """
    period_s = settings.procrastinate_stalled_s / 2
    trusted = False
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(period_s)
        began = loop.time()
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                queue=settings.procrastinate_queue_name,
                seconds_since_heartbeat=settings.procrastinate_stalled_s,
            )
        except (pc.ConnectorException, OSError):
            trusted = False
            continue
        prompt = loop.time() - began < PROMPT_S
        if trusted and prompt:
            for job in stalled:
                # Another worker may have retried it first: the job is no longer "doing".
                with contextlib.suppress(pc.ConnectorException):
                    await app.job_manager.retry_job(job)
                    log.warning("retried job %s of a stalled worker", job.id)
        trusted = prompt


async def main(settings: Settings) -> None:
    logs.configure("worker", settings.log_level)
    tracing.setup(settings, "worker-procrastinate")
    tracing.untraced_by_default()  # the worker, its polling and the tasks it starts
    # Bounded: a paused Redis must not hold a job's end.
    records = Redis.from_url(redis_url_of(settings), socket_timeout=1, socket_connect_timeout=1)
    mailer = AsyncEmailClient(settings)
    stopped = False
    try:
        while not stopped:
            stopped = await serve(settings, mailer, KeptRecords(records))
            if not stopped:
                await asyncio.sleep(RECONNECT_S)
    finally:
        await mailer.aclose()
        await records.aclose()
        tracing.flush()


async def serve(settings: Settings, mailer: AsyncEmailClient, records: KeptRecords) -> bool:
    """Run the worker until it is stopped (True) or loses PostgreSQL (False).

    procrastinate's worker ends with the first database error; this one waits out an outage,
    and its jobs cut short come back as a dead worker's (`retry_stalled`).
    """
    try:
        await asyncio.to_thread(ensure_schema, settings.database_url or "")
        app = build_app(settings)
        async with app.open_async():
            jobs = ProcrastinateJobs(app, settings, owned=False)
            store = await asyncio.to_thread(open_store, settings)
            clients = Clients(settings, store, mailer, jobs, records)
            sweeper = asyncio.create_task(retry_stalled(app, settings))
            flusher = asyncio.create_task(records.flush_every(RECONNECT_S))
            try:
                await app.run_worker_async(
                    queues=[settings.procrastinate_queue_name],
                    concurrency=settings.worker_max_jobs,
                    listen_notify=True,
                    fetch_job_polling_interval=settings.procrastinate_poll_s,
                    additional_context={CLIENTS: clients},
                    update_heartbeat_interval=1.0,
                    stalled_worker_timeout=settings.procrastinate_stalled_s,
                )
            finally:
                sweeper.cancel()
                flusher.cancel()
                store.close()
    except LOST as exc:
        log.warning("lost PostgreSQL (%s); connecting again", str(exc).strip() or type(exc))
        return False
    return True


if __name__ == "__main__":
    # Run from the module imported under its own name: procrastinate wants its App made outside
    # `__main__`, where a job's task could not be found again by its import path.
    from queues import procrastinate_worker

    asyncio.run(procrastinate_worker.main(Settings()))
