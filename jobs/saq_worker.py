"""saq worker settings: `saq jobs.saq_worker.settings` runs the jobs of `jobs/tasks.py` on saq.

The same functions as the arq worker, adapted: saq passes the job's kwargs (our `args`) and
keeps the job in its ctx; a `Retry(defer=...)` becomes saq's retry with exactly that delay.
"""

from __future__ import annotations

from typing import Any

from arq import Retry
from redis.asyncio import Redis
from saq.queue.redis import RedisQueue
from saq.types import Context, Function, SettingsDict

from core import logs
from core.db import open_store
from core.email import AsyncEmailClient
from core.queue import SaqLimits, SaqQueue
from core.settings import Settings
from jobs.bookkeeping import Clients
from jobs.runtime import FUNCTIONS, JobFunction, arq_ctx, retry_delay_s


class SaqContext(Context, total=False):
    clients: Clients
    redis: Redis


def on_saq(function: JobFunction) -> Function[SaqContext]:
    async def run(ctx: SaqContext, *, args: list[Any]) -> str:
        job = ctx["job"]
        clients = ctx["clients"]
        try:
            # saq retries a job past its timeout while it has tries left.
            queued_s = job.queued / 1000
            job_ctx = arq_ctx(clients, ctx["redis"], job.key, job.attempts, queued_s, True)
            return await function(job_ctx, *args)
        except Retry as retry:
            # saq retries any exception while tries are left, after job.next_retry_delay():
            # without backoff that is retry_delay, which becomes the delay the job asked for.
            job.retry_delay = retry_delay_s(retry)
            job.retry_backoff = False
            raise

    return run


def worker_settings(settings: Settings) -> SettingsDict[SaqContext]:
    """Build the dict saq reads; tests call this with their own settings."""
    if settings.redis_url is None:
        raise SystemExit("REDIS_URL is not set: start the stack with `make serve` or set it")
    queue = RedisQueue.from_url(settings.redis_url, name=settings.saq_queue_name)

    async def startup(ctx: SaqContext) -> None:
        logs.configure("worker", settings.log_level)
        jobs = SaqQueue(queue, SaqLimits.of(settings), owned=False)
        ctx["clients"] = Clients(settings, open_store(settings), AsyncEmailClient(settings), jobs)
        ctx["redis"] = queue.redis

    async def shutdown(ctx: SaqContext) -> None:
        await ctx["clients"].mailer.aclose()

    return {
        "queue": queue,
        "functions": [(name, on_saq(function)) for name, function in FUNCTIONS.items()],
        "concurrency": settings.worker_max_jobs,
        "startup": startup,
        "shutdown": shutdown,
        # saq's defaults but the sweep, which finds a killed worker's job (see Settings).
        "timers": {"schedule": 1, "worker_info": 10, "abort": 1, "sweep": settings.saq_sweep_s},
    }


def settings() -> SettingsDict[SaqContext]:
    # saq calls this when it starts: settings are read from the environment then.
    return worker_settings(Settings())
