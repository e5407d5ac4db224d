"""Celery: its defaults, and the documented at-least-once settings, on Redis or RabbitMQ.

Two adapters, one per configuration: `celery` (acknowledged on receipt, prefetch 4) and
`celery-acks-late` (acknowledged after the task, redelivered when its worker dies, prefetch 1).
Their workers run `celery -A queues.celery_worker:<adapter> worker` (`queues/celery_worker.py`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from celery import Celery as CeleryApp
from celery.utils.nodenames import anon_nodename
from kombu import Connection
from kombu import Queue as KombuQueue
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core import tracing
from core.contracts import JOB_FUNCTIONS
from core.db import Store
from core.settings import Settings
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

# Celery does not refuse a second task with the same id: the hand-off claims the id first, in
# the harness's Redis, for as long as a finished job is kept (as arq and saq refuse it).
CLAIM = "claim:"
HELD = "held:"  # a live worker's hash of the tasks it holds (received, waiting or running)
ALIVE = "worker:"  # a live worker's sign of life, refreshed every second
DONE = "done:"
# The harness's Redis as the broker: the task is pushed to its queue's list only when its id
# was not claimed yet (as arq's and saq's scripts refuse a known id).
ENQUEUE = """
if not redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
"""
BROKER_WAIT_S = 2.0  # every wait on the broker is bounded (connect, read, publish)


def eta_of(headers: dict[str, Any]) -> float:
    """A task message's due time in unix seconds, 0 when it is due at once."""
    eta = headers.get("eta")
    return datetime.fromisoformat(eta).timestamp() if eta else 0.0


def pending_of_message(message: dict[str, Any]) -> tuple[PendingJob, float]:
    """A task message as kombu's Redis transport stores it: the job, and when it is due."""
    headers = message.get("headers", {})
    function, work_id = headers.get("task", ""), ""
    try:
        args = json.loads(base64.b64decode(message["body"]))[0]
        work_id = work_id_or_blank(function, args)
    except (ValueError, KeyError, TypeError, IndexError):
        pass  # not ours or unreadable: listed, but owed to no known work
    return {"job_id": headers.get("id", ""), "function": function, "work_id": work_id}, eta_of(
        headers
    )


class CeleryJobs(JobQueueBase):
    """The target's and the jobs' connection: Celery's own task message, handed to the broker
    with the claim of its id.

    On the harness's Redis, the claim and the message go in one Lua call on the event loop:
    kombu's publish blocks, so it would run in a thread, and it builds a new redis-py client
    for every message (docs/speed.md). On another broker (RabbitMQ) the id is claimed, then
    the message is published through Celery's producer pool in a thread.
    """

    def __init__(self, adapter: Celery, app: CeleryApp, records: Redis) -> None:
        self.adapter = adapter
        self.app = app
        self.records = records
        self.queue = adapter.queue_name
        self.keep_s = adapter.settings.keep_result_s
        self.one_call = adapter.broker_is_records
        self.script = Script(records, ENQUEUE)
        # Looked up once: kombu's cached properties take a lock on every read.
        self.create_task_message = app.amqp.create_task_message
        self.send_task_message = app.amqp.send_task_message
        self.origin = anon_nodename()  # what Celery names the sender by, worked out once

    def message(
        self,
        function: str,
        args: tuple[Any, ...],
        job_id: str,
        defer_s: float | None,
        trace: dict[str, str],
    ) -> Any:
        """The task message `send_task` would build (Celery's protocol 2): headers, properties,
        body."""
        message = self.create_task_message(
            job_id,
            function,
            args,
            countdown=defer_s or None,
            # Celery's default, saferepr, was half the message's cost; for a few short strings
            # repr writes the same text.
            argsrepr=repr(args),
            kwargsrepr="{}",
            origin=self.origin,
        )
        message.headers["enqueued_at"] = time.time()
        if trace:
            message.headers["trace"] = trace
        return message

    def redis_entry(self, message: Any) -> bytes:
        """The message as kombu's Redis transport stores it in the queue's list (JSON, Celery's
        default serializer; the body base64)."""
        body = base64.b64encode(orjson.dumps(message.body)).decode()
        properties = {
            **message.properties,
            "delivery_mode": 2,  # persistent, Celery's default
            "delivery_info": {"exchange": "", "routing_key": self.queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        envelope = {
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": message.headers,
            "properties": properties,
        }
        return orjson.dumps(envelope)

    def publish(self, function: str, message: Any) -> None:
        with self.app.producer_or_acquire() as producer:
            self.send_task_message(
                producer,
                function,
                message,
                queue=self.queue,  # a direct queue: sent through the default exchange, by name
                retry_policy={"max_retries": 1, "interval_start": 0, "interval_max": 0.2},
            )

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: Any = None,
    ) -> bool:
        with tracing.producer("celery", self.queue, function, job_id, args) as carried:
            message = self.message(function, args, job_id, defer_s, carried)
            if self.one_call:
                return await self.push(job_id, message)
            return await self.claim_and_publish(function, job_id, message)

    async def push(self, job_id: str, message: Any) -> bool:
        keys = [self.adapter.key(CLAIM + job_id), self.adapter.key(self.queue)]
        try:
            return bool(await self.script(keys, [self.keep_s, self.redis_entry(message)]))
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc

    async def claim_and_publish(self, function: str, job_id: str, message: Any) -> bool:
        claim = self.adapter.key(CLAIM + job_id)
        try:
            if not await self.records.set(claim, 1, nx=True, ex=self.keep_s):
                return False
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
        try:
            # kombu's publish blocks: in a thread, the web server's loop keeps answering.
            await asyncio.to_thread(self.publish, function, message)
        except Exception as exc:  # kombu raises the transport's own errors
            await self.records.delete(claim)
            raise QueueUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return True

    async def wait(self, job_id: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if await self.records.exists(self.adapter.key(DONE + job_id)):
                    return
            except (RedisError, OSError):
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.records.aclose()


class Celery(OnRedis):
    """Celery's defaults: a task is acknowledged as its worker starts it."""

    name = "celery"
    packages = ("celery", "kombu")
    login_share_goal = 0.80  # issue 21
    pickup_goal_ms = 60.0
    worker = (
        "celery",
        "-A",
        "queues.celery_worker:celery",
        "worker",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
    )
    acks_late: ClassVar[bool] = False
    prefetch_multiplier: ClassVar[int] = 4  # Celery's default

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.queue_name = self.name

    @property
    def broker_url(self) -> str:
        return self.settings.celery_broker_url or redis_url_of(self.settings)

    @property
    def broker_is_records(self) -> bool:
        """The broker is the harness's Redis, where the ids are claimed."""
        return self.broker_url == redis_url_of(self.settings)

    @property
    def on_redis(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://", "unix://"))

    def visibility_timeout_s(self) -> float:
        """How long kombu's Redis transport leaves an unacknowledged task with its worker."""
        return 3600.0  # kombu's default, as a team that sets nothing runs it

    def config(self) -> dict[str, Any]:
        options: dict[str, Any] = {"visibility_timeout": self.visibility_timeout_s()}
        if self.on_redis:
            options |= {
                "global_keyprefix": self.key(""),
                "socket_timeout": BROKER_WAIT_S,
                "socket_connect_timeout": BROKER_WAIT_S,
            }
        return {
            "broker_url": self.broker_url,
            "broker_transport_options": options,
            "broker_connection_timeout": BROKER_WAIT_S,
            "broker_connection_retry_on_startup": True,
            "task_default_queue": self.queue_name,
            "task_ignore_result": True,
            "task_acks_late": self.acks_late,
            "task_reject_on_worker_lost": self.acks_late,
            "worker_prefetch_multiplier": self.prefetch_multiplier,
            "worker_concurrency": self.settings.worker_max_jobs,
            "worker_pool": "threads",
            "worker_enable_remote_control": False,
            "worker_hijack_root_logger": False,
            "worker_redirect_stdouts": False,  # the jobs' JSON log lines go to stderr as they are
        }

    def describe(self) -> dict[str, object]:
        # Unset, the harness's Redis: the runner may not have started it yet.
        url = self.settings.celery_broker_url or self.settings.redis_url or "redis://"
        broker = urlsplit(url)
        return {
            "broker": broker.scheme,
            "broker_host": f"{broker.hostname}:{broker.port}" if broker.hostname else None,
            "harness_redis": self.settings.celery_broker_url is None,
            "acks_late": self.acks_late,
            "reject_on_worker_lost": self.acks_late,
            "prefetch_multiplier": self.prefetch_multiplier,
            "visibility_timeout_s": None
            if broker.scheme == "amqp"
            else self.visibility_timeout_s(),
            "pool": "threads",
            "concurrency": self.settings.worker_max_jobs,
        }

    def app(self) -> CeleryApp:
        app = CeleryApp(self.name, set_as_current=False)
        app.conf.update(self.config())
        return app

    def key(self, suffix: str) -> str:
        return f"{self.name}:{suffix}"

    def check(self) -> None:
        super().check()  # the claims and the records live in Redis on any broker
        if not self.broker_url.startswith(("redis://", "rediss://", "unix://", "amqp://")):
            raise SystemExit("CELERY_BROKER_URL must be redis://... or amqp://...")

    async def connect(self, store: Store | None = None) -> JobQueue:
        # No socket_timeout: redis-py would wrap every command in asyncio.wait_for (a task
        # each); the target bounds each hand-off itself (QUEUE_TIMEOUT_S), as for arq and saq.
        records = Redis.from_url(redis_url_of(self.settings), socket_connect_timeout=BROKER_WAIT_S)
        app = self.app()
        try:
            await asyncio.wait_for(records.ping(), BROKER_WAIT_S)
            await asyncio.to_thread(self.declare, app)
        except Exception as exc:
            await records.aclose()
            raise QueueUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return CeleryJobs(self, app, records)

    def declare(self, app: CeleryApp) -> None:
        # A message sent to RabbitMQ's default exchange before its queue exists is dropped.
        with app.connection_for_write() as conn:
            KombuQueue(self.queue_name, channel=conn.default_channel).declare()

    def scan(self, kind: str) -> list[bytes]:
        return list(self.client.scan_iter(match=self.key(kind + "*"), count=1000))

    def jobs(self) -> tuple[list[tuple[PendingJob, float]], set[str]]:
        """Every unfinished job with its due time, and the ids still in the queue itself.

        The broker holds what is queued and, on Redis, every unacknowledged task (with acks
        late, also a dead worker's, until its visibility timeout); the live workers' hashes
        hold what they took, acknowledged or not. A task acknowledged by a worker that then
        died is in neither: it is lost, and nothing here lists it.
        """
        found: dict[str, tuple[PendingJob, float]] = {}
        ready: set[str] = set()
        try:
            if self.on_redis:
                queued: list[bytes] = self.client.lrange(self.key(self.queue_name), 0, -1)  # type: ignore[assignment]
                for raw in queued:
                    job, due = pending_of_message(json.loads(raw))
                    found[job["job_id"]] = (job, due)
                    ready.add(job["job_id"])
                unacked: dict[bytes, bytes] = self.client.hgetall(self.key("unacked"))  # type: ignore[assignment]
                for entry in unacked.values():
                    job, due = pending_of_message(json.loads(entry)[0])  # [message, exchange, key]
                    found.setdefault(job["job_id"], (job, due))
            for key in self.scan(HELD):
                held: dict[bytes, bytes] = self.client.hgetall(key.decode())  # type: ignore[assignment]
                for raw_id, entry in held.items():
                    row, job_id = json.loads(entry), raw_id.decode()
                    taken: PendingJob = {
                        "job_id": job_id,
                        "function": row["function"],
                        "work_id": row["work_id"],
                    }
                    found.setdefault(job_id, (taken, float(row["eta"])))
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
        return list(found.values()), ready

    def depth(self) -> Depth:
        """Due tasks in the queue, tasks waiting for their countdown (in the queue or held by a
        worker), and those a worker holds (running, or prefetched and waiting for a slot)."""
        jobs, queued = self.jobs()
        now = time.time()
        deferred = sum(1 for _, due in jobs if due > now)
        ready = sum(1 for job, due in jobs if job["job_id"] in queued and due <= now)
        if not self.on_redis:
            ready = self.broker_ready()  # RabbitMQ: only a count, countdowns included
        held = sum(1 for job, due in jobs if job["job_id"] not in queued and due <= now)
        return {"ready": ready, "deferred": deferred, "in_progress": held}

    def broker_ready(self) -> int:
        """RabbitMQ's count of ready messages (it lists none without consuming them)."""
        try:
            with Connection(self.broker_url, connect_timeout=BROKER_WAIT_S) as conn:
                declared = KombuQueue(self.queue_name, channel=conn.default_channel)
                _, count, _ = declared.queue_declare(passive=True)
                return int(count)
        except Exception as exc:
            raise QueueUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def pending(self) -> list[PendingJob]:
        jobs, _ = self.jobs()
        return sorted((job for job, _ in jobs), key=lambda job: job["job_id"])

    def worker_alive(self) -> bool:
        return bool(self.scan(ALIVE))

    def forget_workers(self) -> None:
        stale = self.scan(ALIVE)
        if stale:
            self.client.delete(*stale)

    def reset(self) -> None:
        stale = self.scan("")
        if stale:
            self.client.delete(*stale)
        if not self.on_redis:
            with Connection(self.broker_url, connect_timeout=BROKER_WAIT_S) as conn:
                declared = KombuQueue(self.queue_name, channel=conn.default_channel)
                declared.declare()
                declared.purge()


class CeleryAcksLate(Celery):
    """The documented at-least-once settings: acknowledged when the task ends, redelivered
    when its worker is lost, one task prefetched per slot."""

    name = "celery-acks-late"
    worker = (Celery.worker[0], "-A", "queues.celery_worker:celery_acks_late", *Celery.worker[3:])
    acks_late = True
    prefetch_multiplier = 1

    def visibility_timeout_s(self) -> float:
        # Longer than the longest job and the longest retry's countdown: a task a live worker
        # still holds past it is handed to another worker as well (run twice).
        s = self.settings
        if s.celery_visibility_timeout_s is not None:
            return s.celery_visibility_timeout_s
        longest = max((s.job_timeout_s(f) or 0.0) for f in JOB_FUNCTIONS)
        return max(longest, s.retry_cap_s) + 10.0
