"""A job queue that is this process's memory: the `background` variant's, for FastAPI tasks.

The jobs are the same functions as on arq and saq, with the same tries, backoff, dead letter
and records. Nothing outside the process knows of them: when it dies, pending work is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from arq import Retry
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.contracts import FAN_OUT
from core.db import Store
from core.email import AsyncEmailClient
from core.logs import event
from core.queue import SaqLimits
from core.settings import Settings
from jobs.bookkeeping import Clients
from jobs.runtime import FUNCTIONS, arq_ctx, retry_delay_s

log = logging.getLogger("jobs.inprocess")


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


class InProcessQueue:
    def __init__(self, settings: Settings, store: Store, redis: Redis | None) -> None:
        # Work in the web process is made seat by seat, whatever JOB_DESIGN the workers use.
        settings = settings.model_copy(update={"job_design": FAN_OUT})
        self.settings = settings
        self.clients = Clients(settings, store, AsyncEmailClient(settings), self)
        self.records = Records(redis)
        self.timeouts_s = SaqLimits.of(settings).timeout_s
        # Every job id this process was given: a second enqueue of one is a no-op, as on the
        # queues. It grows by one short string per job, and dies with the process.
        self.known: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def claim(self, job_id: str) -> bool:
        """True the first time this process sees the job id."""
        if job_id in self.known:
            return False
        self.known.add(job_id)
        return True

    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        """For the jobs' own fan-out: the job runs as a task of this process."""
        if not self.claim(job_id):
            return False
        task = asyncio.create_task(self.run(function, args, job_id, defer_s))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def run(
        self, function: str, args: Sequence[Any], job_id: str, defer_s: float | None = None
    ) -> None:
        """Run a job to its end: tries while it asks for a retry, then done or dead-lettered."""
        enqueued_at = time.time()
        if defer_s:
            await asyncio.sleep(defer_s)
        # `@job` dead-letters instead of asking for a try past max_tries; the bound is a guard.
        for job_try in range(1, self.settings.max_tries + 1):
            ctx = arq_ctx(self.clients, self.records, job_id, job_try, enqueued_at)
            try:
                call = FUNCTIONS[function](ctx, *args)
                await asyncio.wait_for(call, self.timeouts_s[function] or None)
                return
            except Retry as retry:
                await asyncio.sleep(retry_delay_s(retry))
            except Exception as exc:  # as on arq: anything but a Retry ends the job
                event(log, "job_failed", job_id=job_id, error=repr(exc))
                return

    async def wait(self, job_id: str, timeout_s: float) -> None:
        return None  # the variant never waits for its work

    async def close(self, grace_s: float = 0.0) -> None:
        """Give running jobs `grace_s` to finish (a graceful shutdown), then drop the rest."""
        if self.tasks and grace_s > 0:
            await asyncio.wait(set(self.tasks), timeout=grace_s)
        for task in set(self.tasks):
            task.cancel()
        await self.clients.mailer.aclose()
