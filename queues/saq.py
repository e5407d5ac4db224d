"""saq: jobs in saq's own format, run by `saq queues.saq.settings`."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq.job import ABORT_ID_PREFIX, TERMINAL_STATUSES, Status
from saq.queue.redis import ID_PREFIX, RedisQueue
from saq.types import Context, Function, SettingsDict
from saq.utils import now as saq_now

from core import logs, tracing
from core.contracts import JOB_FUNCTIONS
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
from queues.saq_sweep import PickupSafeQueue

# saq's own enqueue refuses a key only while the job is incomplete: a finished job, kept for
# its ttl, would run again. This script also refuses while the job is kept, as arq does, so a
# deterministic key makes a second enqueue a no-op for as long as the record lives.
ENQUEUE = """
if redis.call('EXISTS', KEYS[2], KEYS[4]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], KEYS[2])
if ARGV[2] == '0' then redis.call('RPUSH', KEYS[3], KEYS[2]) end
return 1
"""
# Where saq keeps a queue: `incomplete` (a sorted set of every job not finished, scored by
# when it is due, 0 once queued), `queued` (the list workers BLMOVE from) and `active`.
INCOMPLETE, QUEUED, ACTIVE = "incomplete", "queued", "active"


def saq_key(queue_name: str, kind: str) -> str:
    return f"saq:{queue_name}:{kind}"  # as saq's RedisQueue.namespace


def saq_job_key(queue_name: str, job_id: str) -> str:
    return f"{ID_PREFIX}{queue_name}:{job_id}"  # as saq's RedisQueue.job_id


@dataclass(frozen=True)
class SaqLimits:
    """saq stores a job's timeout and tries with the job, so whoever enqueues must know them."""

    timeout_s: Mapping[str, float]  # per function
    tries: int
    keep_s: int  # how long a finished job is kept (and its key refused)

    @classmethod
    def of(cls, settings: Settings) -> SaqLimits:
        # 0: saq runs the job without a timeout (monolithic-no-timeout's order job).
        timeouts = {f: settings.job_timeout_s(f) or 0.0 for f in JOB_FUNCTIONS}
        # One try more than max_tries, as for arq: a job whose worker died during its last try
        # comes back once more to be dead-lettered instead of vanishing.
        return cls(timeouts, settings.max_tries + 1, settings.keep_result_s)


def saq_job_fields(
    function: str,
    args: tuple[Any, ...],
    job_id: str,
    queue_name: str,
    limits: SaqLimits,
    scheduled: int,
) -> dict[str, Any]:
    """A queued job as saq's `Job.to_dict` writes it (args travel as one `args` kwarg).

    Written as a dict, not as saq's `Job` serialized, which costs the login a large share of
    its rate (`make perf`). A test compares it with saq's own serialization.
    """
    return {
        "function": function,
        "kwargs": {"args": list(args)},
        "queue": queue_name,
        "key": job_id,
        "timeout": math.ceil(limits.timeout_s[function]),
        "retries": limits.tries,
        "ttl": limits.keep_s,
        # saq moves due jobs to the queue once a second: whole seconds lose nothing.
        "scheduled": scheduled,
        "queued": saq_now(),
        "status": Status.QUEUED.value,
    }


class SaqJobs(JobQueueBase):
    """The target's and the jobs' connection: one Lua call per enqueue."""

    def __init__(self, queue: RedisQueue, limits: SaqLimits, owned: bool = True) -> None:
        self.queue = queue
        self.limits = limits
        self.owned = owned
        self.script = Script(queue.redis, ENQUEUE)
        self.incomplete = saq_key(queue.name, INCOMPLETE)
        self.queued = saq_key(queue.name, QUEUED)

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: Any = None,
    ) -> bool:
        name = self.queue.name
        scheduled = math.ceil(time.time() + defer_s) if defer_s else 0
        keys = (self.incomplete, saq_job_key(name, job_id), self.queued, ABORT_ID_PREFIX + job_id)
        with tracing.producer("saq", name, function, job_id, args) as carried:
            job = saq_job_fields(function, args, job_id, name, self.limits, scheduled)
            if carried:
                job["kwargs"]["trace"] = carried
            try:
                added = await self.script(keys, (orjson.dumps(job), scheduled))
            except (RedisError, OSError) as exc:
                raise QueueUnavailable(str(exc)) from exc
        return bool(added)

    async def wait(self, job_id: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                job = await self.queue.job(job_id)
            except (RedisError, OSError):
                return
            if job is None or job.status in TERMINAL_STATUSES:
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.owned:
            await self.queue.disconnect()


class Saq(OnRedis):
    name = "saq"
    packages = ("saq",)
    pickup_goal_ms = 15.0  # a blocking dequeue
    worker = ("saq", "queues.saq.settings", "--quiet")  # --quiet: our JSON logging, not saq's

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.queue_name = settings.saq_queue_name

    async def connect(self, store: Store | None = None) -> JobQueue:
        queue = RedisQueue.from_url(redis_url_of(self.settings), name=self.queue_name)
        try:
            await queue.redis.ping()
        except (RedisError, OSError) as exc:
            await queue.redis.aclose()
            raise QueueUnavailable(str(exc)) from exc
        await queue.connect()
        return SaqJobs(queue, SaqLimits.of(self.settings))

    def key(self, kind: str) -> str:
        return saq_key(self.queue_name, kind)

    def depth(self) -> Depth:
        """Due jobs, jobs waiting for their time, running ones, in one consistent look."""
        pipe = self.client.pipeline(transaction=True)
        pipe.llen(self.key(QUEUED))
        pipe.llen(self.key(ACTIVE))
        pipe.zcard(self.key(INCOMPLETE))
        try:
            ready, in_progress, incomplete = (int(n) for n in pipe.execute())
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
        # An active job stays in `incomplete` until it finishes; so does a queued one.
        deferred = max(incomplete - ready - in_progress, 0)
        return {"ready": ready, "deferred": deferred, "in_progress": in_progress}

    def pending(self) -> list[PendingJob]:
        """Every unfinished job, with the work it owes."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zrange(self.key(INCOMPLETE), 0, -1)
        pipe.lrange(self.key(ACTIVE), 0, -1)
        incomplete, active = pipe.execute()
        prefix = saq_job_key(self.queue_name, "")
        rows: list[PendingJob] = []
        for key in sorted({raw.decode() for raw in [*incomplete, *active]}):
            payload: bytes | None = self.client.get(key)  # type: ignore[assignment]
            function, work_id = "", ""
            if payload is not None:
                try:
                    job = json.loads(payload)
                    function = job["function"]
                    work_id = work_id_or_blank(function, job.get("kwargs", {}).get("args", []))
                except (ValueError, KeyError, TypeError, AttributeError):
                    pass  # unreadable or not ours: listed, but owed to no known work
            job_id = key.removeprefix(prefix)
            rows.append({"job_id": job_id, "function": function, "work_id": work_id})
        return rows

    def worker_alive(self) -> bool:
        # saq writes a worker's info as its upkeep starts.
        match = self.key("worker_info:*")
        return next(self.client.scan_iter(match=match), None) is not None

    def forget_workers(self) -> None:
        stale = list(self.client.scan_iter(match=self.key("worker_info:*")))
        if stale:
            self.client.delete(*stale)

    def reset(self) -> None:
        matches = (f"saq:{self.queue_name}:*", saq_job_key(self.queue_name, "*"))
        stale = [k for m in matches for k in self.client.scan_iter(match=m, count=1000)]
        if stale:
            self.client.delete(*stale)


# The worker: `saq queues.saq.settings`.


class SaqContext(Context, total=False):
    clients: Clients


def on_saq(function: JobFunction) -> Function[SaqContext]:
    """A job function as saq calls it: its job read into an `Attempt`, RetryLater as saq's
    retry after exactly the delay the job asked for."""

    async def run(ctx: SaqContext, *, args: list[Any], trace: dict[str, str] | None = None) -> str:
        job = ctx["job"]
        # saq retries a job past its timeout while it has tries left.
        enqueued_at = job.queued / 1000
        attempt = Attempt(
            job.key, job.attempts, enqueued_at, timeouts_retried=True, trace=trace or {}
        )
        try:
            return await function(ctx["clients"], attempt, *args)
        except RetryLater as retry:
            # saq retries any exception while tries are left, after job.next_retry_delay():
            # without backoff that is retry_delay.
            job.retry_delay, job.retry_backoff = retry.defer_s, False
            raise

    return run


def worker_settings(settings: Settings) -> SettingsDict[SaqContext]:
    """Build the dict saq reads; tests call this with their own settings."""
    queue = PickupSafeQueue.from_url(redis_url_of(settings), name=settings.saq_queue_name)
    records: Redis = queue.redis

    async def startup(ctx: SaqContext) -> None:
        logs.configure("worker", settings.log_level)
        tracing.setup(settings, "worker-saq")
        tracing.untraced_by_default()  # saq's main task: its polling and the tasks it starts
        jobs = SaqJobs(queue, SaqLimits.of(settings), owned=False)
        mailer = AsyncEmailClient(settings)
        ctx["clients"] = Clients(settings, open_store(settings), mailer, jobs, records)

    async def shutdown(ctx: SaqContext) -> None:
        await ctx["clients"].mailer.aclose()
        tracing.flush()

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
