"""arq: jobs written as arq's `enqueue_job` writes them, run by `arq queues.arq.WorkerSettings`."""

from __future__ import annotations

import contextlib
from typing import Any

from arq import Retry, func
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import (
    abort_jobs_ss,
    health_check_key_suffix,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import DeserializationError, Job, deserialize_job, serialize_job
from arq.typing import WorkerCoroutine
from arq.utils import timestamp_ms
from redis.exceptions import RedisError

from core import logs, tracing
from core.db import Store, open_store
from core.email import AsyncEmailClient
from core.settings import Settings
from jobs.bookkeeping import Attempt, Clients, JobFunction, RetryLater
from jobs.registry import FUNCTIONS
from queues.base import (
    Depth,
    JobQueue,
    JobQueueBase,
    OnRedis,
    PendingJob,
    QueueUnavailable,
    redis_url_of,
    work_id_or_blank,
)
from queues.lua import Script

# arq's enqueue_job does WATCH, EXISTS, then MULTI/PSETEX/ZADD/EXEC: three round trips. This
# script makes the same checks and writes the same keys atomically in one.
ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
# arq has no "no timeout": a day stands for it. It also becomes how long a killed worker's
# jobs wait before another worker takes them (arq's in-progress key lives max timeout + 10 s).
NO_TIMEOUT_S = 24 * 3600.0
CLIENTS = "clients"  # where the worker's startup keeps its `Clients` in arq's ctx
TRACE = "trace"  # the job's one keyword argument, when traced: its hand-off's trace context


class ArqJobs(JobQueueBase):
    """The target's and the jobs' connection: one Lua call per enqueue."""

    def __init__(self, redis: ArqRedis, queue_name: str, owned: bool = True) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.owned = owned
        self.script = Script(redis, ENQUEUE)

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: Any = None,
    ) -> bool:
        enqueued_ms = timestamp_ms()
        defer_ms = round(defer_s * 1000) if defer_s else 0
        keys = [job_key_prefix + job_id, result_key_prefix + job_id, self.queue_name]
        expires_ms = defer_ms + self.redis.expires_extra_ms
        with tracing.producer("arq", self.queue_name, function, job_id, args) as carried:
            kwargs = {TRACE: carried} if carried else {}
            job = serialize_job(function, args, kwargs, None, enqueued_ms)
            try:
                added = await self.script(keys, [expires_ms, job, enqueued_ms + defer_ms, job_id])
            except (RedisError, OSError) as exc:
                raise QueueUnavailable(str(exc)) from exc
        return bool(added)

    async def wait(self, job_id: str, timeout_s: float) -> None:
        job = Job(job_id, self.redis, _queue_name=self.queue_name)
        with contextlib.suppress(Exception):  # the job's own failure is not the caller's
            await job.result(timeout=timeout_s, poll_delay=0.05)

    async def close(self) -> None:
        if self.owned:
            await self.redis.aclose()


class Arq(OnRedis):
    name = "arq"
    packages = ("arq",)
    pickup_goal_ms = 60.0  # its workers poll
    worker = ("arq", "queues.arq.WorkerSettings")

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.queue_name = settings.queue_name

    async def connect(self, store: Store | None = None) -> JobQueue:
        url = redis_url_of(self.settings)
        pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=self.queue_name)
        return ArqJobs(pool, self.queue_name)

    def depth(self) -> Depth:
        """Ready jobs are due (score <= now), deferred ones wait for a retry or a delay.

        arq keeps a running job in its queue until it ends: `ready` counts running jobs too.
        """
        now_ms = timestamp_ms()
        try:
            ready = int(self.client.zcount(self.queue_name, "-inf", now_ms))  # type: ignore[arg-type]
            deferred = int(self.client.zcount(self.queue_name, f"({now_ms}", "+inf"))  # type: ignore[arg-type]
            running = self.client.scan_iter(match=f"{in_progress_key_prefix}*", count=1000)
            in_progress = sum(1 for _ in running)
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
        return {"ready": ready, "deferred": deferred, "in_progress": in_progress}

    def pending(self) -> list[PendingJob]:
        """A job stays in the queue's sorted set while it runs, so one ZRANGE is a consistent
        snapshot; the in-progress keys add any job a worker holds outside it."""
        client = self.client
        queued: list[bytes] = client.zrange(self.queue_name, 0, -1)  # type: ignore[assignment]
        ids = {raw.decode() for raw in queued}
        for key in client.scan_iter(match=f"{in_progress_key_prefix}*", count=1000):
            ids.add(key.decode().removeprefix(in_progress_key_prefix))
        rows: list[PendingJob] = []
        for job_id in sorted(ids):
            payload: bytes | None = client.get(job_key_prefix + job_id)  # type: ignore[assignment]
            function, work_id = "", ""
            if payload is not None:
                try:
                    job = deserialize_job(payload)
                    function, work_id = job.function, work_id_or_blank(job.function, job.args)
                except (DeserializationError, ValueError):
                    pass  # gone, unreadable or not ours: listed, but owed to no known work
            rows.append({"job_id": job_id, "function": function, "work_id": work_id})
        return rows

    @property
    def alive_key(self) -> str:
        return self.queue_name + health_check_key_suffix  # written on a worker's first poll

    def worker_alive(self) -> bool:
        return bool(self.client.exists(self.alive_key))

    def forget_workers(self) -> None:
        self.client.delete(self.alive_key)

    def reset(self) -> None:
        prefixes = (job_key_prefix, result_key_prefix, in_progress_key_prefix, retry_key_prefix)
        stale = [self.queue_name, self.alive_key, abort_jobs_ss]
        for prefix in prefixes:
            stale += self.client.scan_iter(match=f"{prefix}*", count=1000)
        self.client.delete(*stale)


# The worker: `arq queues.arq.WorkerSettings`.


def arq_timeout_s(settings: Settings, function: str) -> float:
    timeout_s = settings.job_timeout_s(function)
    return NO_TIMEOUT_S if timeout_s is None else timeout_s


def on_arq(name: str, function: JobFunction) -> WorkerCoroutine:
    """A job function as arq calls it: its ctx read into an `Attempt`, RetryLater as Retry."""

    async def run(ctx: dict[str, Any], *args: Any, trace: dict[str, str] | None = None) -> str:
        enqueued_at = ctx["enqueue_time"].timestamp()
        attempt = Attempt(ctx["job_id"], ctx["job_try"], enqueued_at, trace=trace or {})
        try:
            return await function(ctx[CLIENTS], attempt, *args)
        except RetryLater as retry:
            raise Retry(defer=retry.defer_s) from retry

    run.__qualname__ = name  # arq registers a job under its __qualname__
    return run


def worker_settings(settings: Settings) -> type:
    """Build the class arq reads; tests call this with their own settings."""
    redis_url = redis_url_of(settings)

    async def startup(ctx: dict[str, Any]) -> None:
        logs.configure("worker", settings.log_level)
        tracing.setup(settings, "worker-arq")
        tracing.untraced_by_default()  # arq's main task: its polling and the tasks it starts
        queue = ArqJobs(ctx["redis"], settings.queue_name, owned=False)
        mailer = AsyncEmailClient(settings)
        ctx[CLIENTS] = Clients(settings, open_store(settings), mailer, queue, ctx["redis"])

    async def shutdown(ctx: dict[str, Any]) -> None:
        clients: Clients = ctx[CLIENTS]
        await clients.mailer.aclose()
        tracing.flush()

    tries = settings.max_tries + 1  # see bookkeeping.job: the extra try dead-letters

    class WorkerSettings:
        functions = [
            func(on_arq(name, f), timeout=arq_timeout_s(settings, name), max_tries=tries)
            for name, f in FUNCTIONS.items()
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
    # `arq queues.arq.WorkerSettings` looks the class up here: settings are read from the
    # environment then, not when the module is imported.
    if name == "WorkerSettings":
        return worker_settings(Settings())
    raise AttributeError(name)
