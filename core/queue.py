"""The seam between the code and the job queues (arq and saq), so the targets and jobs see one."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import Job, serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError
from saq.job import ABORT_ID_PREFIX, TERMINAL_STATUSES, Status
from saq.queue.redis import ID_PREFIX as SAQ_JOB_PREFIX
from saq.queue.redis import RedisQueue
from saq.utils import now as saq_now

from core.contracts import JOB_FUNCTIONS, work_id_of_job
from core.settings import Settings


class QueueUnavailable(Exception):
    pass


class Script:
    """A Lua script run by its digest: one EVALSHA, and the script sent again if Redis lost it.

    redis-py's registered script costs each run about 10 µs more (an import, two tuples and two
    calls), a fortieth of the login's time, for pipeline support that nothing here uses.
    """

    def __init__(self, client: Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:  # a restarted Redis has no scripts
            await self.client.script_load(self.source)
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]


class JobQueue(Protocol):
    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        """Queue a job; False when a job with this id is already queued, running or kept."""
        ...

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Wait until the job has finished, however it ended, or the timeout passed."""
        ...

    async def close(self) -> None: ...


# arq's enqueue_job does WATCH, EXISTS, then MULTI/PSETEX/ZADD/EXEC: three round trips. This
# script makes the same checks and writes the same keys atomically in one.
ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""


class ArqQueue:
    """Jobs written exactly as arq's `enqueue_job` writes them, for arq's workers to run."""

    def __init__(self, redis: ArqRedis, queue_name: str, owned: bool = True) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self.owned = owned
        self.script = Script(redis, ENQUEUE)

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str) -> ArqQueue:
        redis = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue_name)
        return cls(redis, queue_name)

    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        enqueued_ms = timestamp_ms()
        defer_ms = round(defer_s * 1000) if defer_s else 0
        job = serialize_job(function, args, {}, None, enqueued_ms)
        keys = [job_key_prefix + job_id, result_key_prefix + job_id, self.queue_name]
        expires_ms = defer_ms + self.redis.expires_extra_ms
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


# saq (0.26). Its own enqueue refuses a key only while the job is incomplete: a finished job,
# kept for its ttl, would run again. This script also refuses while the job is kept, as arq
# does, so a deterministic key makes a second enqueue a no-op for as long as the record lives.
SAQ_ENQUEUE = """
if redis.call('EXISTS', KEYS[2], KEYS[4]) > 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], KEYS[2])
if ARGV[2] == '0' then redis.call('RPUSH', KEYS[3], KEYS[2]) end
return 1
"""
# Where saq keeps a queue: `incomplete` (a sorted set of every job not finished, scored by
# when it is due, 0 once queued), `queued` (the list workers BLMOVE from) and `active`.
SAQ_INCOMPLETE, SAQ_QUEUED, SAQ_ACTIVE = "incomplete", "queued", "active"


def saq_key(queue_name: str, kind: str) -> str:
    return f"saq:{queue_name}:{kind}"  # as saq's RedisQueue.namespace


def saq_job_key(queue_name: str, job_id: str) -> str:
    return f"{SAQ_JOB_PREFIX}{queue_name}:{job_id}"  # as saq's RedisQueue.job_id


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

    Written as a dict: building saq's `Job` and serializing it cost the login a sixth of its
    rate (`make perf`). A test compares it with saq's own serialization.
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


class SaqQueue:
    """Jobs in saq's own format, for saq's workers to run."""

    def __init__(self, queue: RedisQueue, limits: SaqLimits, owned: bool = True) -> None:
        self.queue = queue
        self.limits = limits
        self.owned = owned
        self.script = Script(queue.redis, SAQ_ENQUEUE)
        self.incomplete = saq_key(queue.name, SAQ_INCOMPLETE)
        self.queued = saq_key(queue.name, SAQ_QUEUED)

    @classmethod
    async def connect(cls, redis_url: str, queue_name: str, limits: SaqLimits) -> SaqQueue:
        queue = RedisQueue.from_url(redis_url, name=queue_name)
        try:
            await queue.redis.ping()
        except (RedisError, OSError) as exc:
            await queue.redis.aclose()
            raise QueueUnavailable(str(exc)) from exc
        await queue.connect()
        return cls(queue, limits)

    async def enqueue(
        self, function: str, *args: Any, job_id: str, defer_s: float | None = None
    ) -> bool:
        name = self.queue.name
        scheduled = math.ceil(time.time() + defer_s) if defer_s else 0
        job = saq_job_fields(function, args, job_id, name, self.limits, scheduled)
        keys = (self.incomplete, saq_job_key(name, job_id), self.queued, ABORT_ID_PREFIX + job_id)
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


def saq_queue_depth(client: redis.Redis, queue_name: str) -> dict[str, int]:
    """The runner's queue sample for saq: due jobs, jobs waiting for their time, running ones."""
    pipe = client.pipeline(transaction=True)  # one consistent snapshot
    pipe.llen(saq_key(queue_name, SAQ_QUEUED))
    pipe.llen(saq_key(queue_name, SAQ_ACTIVE))
    pipe.zcard(saq_key(queue_name, SAQ_INCOMPLETE))
    ready, in_progress, incomplete = (int(n) for n in pipe.execute())
    # An active job stays in `incomplete` until it finishes; so does a queued one.
    return {
        "ready": ready,
        "deferred": max(incomplete - ready - in_progress, 0),
        "in_progress": in_progress,
    }


def saq_pending_jobs(client: redis.Redis, queue_name: str) -> list[dict[str, Any]]:
    """As runner.pending.pending_jobs for saq: every unfinished job, with the work it owes."""
    pipe = client.pipeline(transaction=True)
    pipe.zrange(saq_key(queue_name, SAQ_INCOMPLETE), 0, -1)
    pipe.lrange(saq_key(queue_name, SAQ_ACTIVE), 0, -1)
    incomplete, active = pipe.execute()
    prefix = saq_job_key(queue_name, "")
    rows = []
    for key in sorted({raw.decode() for raw in [*incomplete, *active]}):
        payload: bytes | None = client.get(key)  # type: ignore[assignment]
        function, work_id = "", ""
        if payload is not None:
            try:
                job = json.loads(payload)
                function = job["function"]
                work_id = work_id_of_job(function, job.get("kwargs", {}).get("args", []))
            except (ValueError, KeyError, TypeError, AttributeError):
                pass  # unreadable or not ours: listed, but owed to no known work
        rows.append({"job_id": key.removeprefix(prefix), "function": function, "work_id": work_id})
    return rows
