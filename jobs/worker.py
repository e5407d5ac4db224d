"""arq worker settings: `arq jobs.worker.WorkerSettings` runs a worker configured from the env."""

from __future__ import annotations

from typing import Any

from arq import func
from arq.connections import RedisSettings

from core import logs
from core.contracts import JOB_FUNCTIONS
from core.db import open_store
from core.email import AsyncEmailClient
from core.queue import ArqQueue
from core.settings import Settings
from jobs import tasks
from jobs.bookkeeping import CLIENTS, Clients

# arq has no "no timeout": a day stands for it. It also becomes how long a killed worker's
# jobs wait before another worker takes them (arq's in-progress key lives max timeout + 10 s).
NO_TIMEOUT_S = 24 * 3600.0


def arq_timeout_s(settings: Settings, function: str) -> float:
    timeout_s = settings.job_timeout_s(function)
    return NO_TIMEOUT_S if timeout_s is None else timeout_s


def worker_settings(settings: Settings) -> type:
    """Build the class arq reads; tests call this with their own settings."""
    if settings.redis_url is None:
        raise SystemExit("REDIS_URL is not set: start the stack with `make serve` or set it")
    redis_url = settings.redis_url

    async def startup(ctx: dict[str, Any]) -> None:
        logs.configure("worker", settings.log_level)
        queue = ArqQueue(ctx["redis"], settings.queue_name, owned=False)
        ctx[CLIENTS] = Clients(settings, open_store(settings), AsyncEmailClient(settings), queue)

    async def shutdown(ctx: dict[str, Any]) -> None:
        clients: Clients = ctx[CLIENTS]
        await clients.mailer.aclose()

    tries = settings.max_tries + 1  # see bookkeeping.job: the extra try dead-letters

    class WorkerSettings:
        functions = [
            func(getattr(tasks, name), timeout=arq_timeout_s(settings, name), max_tries=tries)
            for name in JOB_FUNCTIONS
        ]
        redis_settings = RedisSettings.from_dsn(redis_url)
        queue_name = settings.queue_name
        on_startup = startup
        on_shutdown = shutdown
        max_jobs = settings.worker_max_jobs
        poll_delay = settings.poll_delay_s
        keep_result = settings.keep_result_s
        health_check_interval = 5

    return WorkerSettings


def __getattr__(name: str) -> type:
    # `arq jobs.worker.WorkerSettings` looks the class up here: settings are read from the
    # environment then, not when the module is imported.
    if name == "WorkerSettings":
        return worker_settings(Settings())
    raise AttributeError(name)
