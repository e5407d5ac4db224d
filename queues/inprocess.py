"""The web process's own memory as a queue: the `background` variant's, for FastAPI tasks.

The jobs are the same functions as on arq and saq, with the same tries, backoff, dead letter
and records. Nothing outside the process knows of them: when it dies, pending work is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import tracing
from core.contracts import FAN_OUT
from core.db import Store
from core.email import AsyncEmailClient
from core.logs import event
from core.settings import Settings
from jobs.bookkeeping import Attempt, Clients, RetryLater
from jobs.registry import FUNCTIONS
from queues.base import JobQueue, JobQueueBase, Queue

if TYPE_CHECKING:
    from starlette.background import BackgroundTasks

log = logging.getLogger("queues.inprocess")


class Records:
    """Where `@job` pushes its records. They are for the analysis, not the work: when Redis is
    missing or down they are dropped, and the job goes on (its retry is not lost)."""

    def __init__(self, redis: Redis | None) -> None:
        self.redis = redis

    async def rpush(self, key: str, value: str) -> int:
        if self.redis is None:
            return 0
        try:
            length: int = await self.redis.rpush(key, value)  # type: ignore[misc]
            return length
        except (RedisError, OSError) as exc:
            log.warning("job record dropped: %s", exc)
            return 0

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


class InProcessJobs(JobQueueBase):
    def __init__(self, settings: Settings, store: Store, records: Records) -> None:
        # Work in the web process is made seat by seat, whatever JOB_DESIGN the workers use.
        settings = settings.model_copy(update={"job_design": FAN_OUT})
        self.settings = settings
        self.records = records
        self.clients = Clients(settings, store, AsyncEmailClient(settings), self, records)
        # Every job id this process was given: a second enqueue of one is a no-op, as on the
        # queues. It grows by one short string per job, and dies with the process.
        self.known: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: BackgroundTasks | None = None,
    ) -> bool:
        """A handler's job runs after its response (FastAPI's BackgroundTasks); a job's own
        fan-out as a task of this process."""
        if job_id in self.known:
            return False
        self.known.add(job_id)
        with tracing.producer("inprocess", "memory", function, job_id, args) as carried:
            if background is not None:
                background.add_task(self.run, function, args, job_id, defer_s, carried)
                return True
        task = asyncio.create_task(self.run(function, args, job_id, defer_s, carried))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def run(
        self,
        function: str,
        args: Sequence[Any],
        job_id: str,
        defer_s: float | None = None,
        carried: Mapping[str, str] | None = None,
    ) -> None:
        """Run a job to its end: tries while it asks for a retry, then done or dead-lettered."""
        enqueued_at = time.time()
        if defer_s:
            await asyncio.sleep(defer_s)
        timeout_s = self.settings.job_timeout_s(function)
        # `@job` dead-letters instead of asking for a try past max_tries; the bound is a guard.
        for job_try in range(1, self.settings.max_tries + 1):
            attempt = Attempt(job_id, job_try, enqueued_at, trace=carried or {})
            try:
                call = FUNCTIONS[function](self.clients, attempt, *args)
                await asyncio.wait_for(call, timeout_s)
                return
            except RetryLater as retry:
                await asyncio.sleep(retry.defer_s)
            except Exception as exc:  # as on arq: anything but a retry ends the job
                event(log, "job_failed", job_id=job_id, error=repr(exc))
                return

    async def wait(self, job_id: str, timeout_s: float) -> None:
        return None  # the variant never waits for its work

    async def close(self) -> None:
        """A graceful shutdown (SIGTERM) lets running work finish for as long as one email job
        may take; what is still waiting for a retry after that is lost."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=self.settings.email_job_timeout_s)
        for task in set(self.tasks):
            task.cancel()
        await self.clients.mailer.aclose()
        await self.records.aclose()


class InProcess(Queue):
    name = "inprocess"
    worker = None

    async def connect(self, store: Store | None = None) -> JobQueue:
        if store is None:
            raise ValueError("the in-process queue runs its jobs on the target's store")
        # Redis only takes the jobs' records, for the analysis; the work never touches it.
        url = self.settings.redis_url
        # A record waits no longer than a handler would: a stalled Redis must not hold the work.
        redis = Redis.from_url(url, socket_timeout=self.settings.queue_timeout_s) if url else None
        return InProcessJobs(self.settings, store, Records(redis))
