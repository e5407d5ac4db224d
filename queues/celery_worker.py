"""The celery variants' worker: `celery -A queues.celery_worker:<adapter> worker` runs the jobs.

The pool is Celery's `threads`, WORKER_MAX_JOBS of them: the jobs are I/O-bound and async, so
each thread hands its job to one event loop the worker shares (its mail client and Redis made
once, as arq's and saq's workers make theirs). prefork would cost a process per slot, 40 on two
cores; gevent would monkey-patch the asyncio code the jobs are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import redis
from celery import Celery as CeleryApp
from celery import Task, signals
from redis.asyncio import Redis

from core import logs, tracing
from core.db import open_store
from core.email import AsyncEmailClient
from core.settings import Settings
from jobs.bookkeeping import Attempt, Clients, JobFunction, RetryLater
from jobs.registry import FUNCTIONS
from queues.base import redis_url_of, work_id_or_blank
from queues.celery import ALIVE, DONE, HELD, Celery, CeleryAcksLate, CeleryJobs, eta_of

log = logging.getLogger("queues.celery")
T = TypeVar("T")
BEAT_S = 1.0  # a live worker refreshes its sign of life and its held tasks this often
GONE_S = 3  # ... which outlive a killed worker by this long


class Runtime:
    """What a worker process makes once: the jobs' event loop and clients, its bookkeeping."""

    def __init__(self, adapter: Celery, app: CeleryApp) -> None:
        self.adapter = adapter
        self.settings = settings = adapter.settings
        logs.configure("worker", settings.log_level)
        tracing.setup(settings, f"worker-{adapter.name}")
        self.client = redis.Redis.from_url(redis_url_of(settings), socket_timeout=2)
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self.held = adapter.key(HELD + self.me)
        self.stopped = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="jobs", daemon=True).start()
        self.clients = self.run(self.connect(app))
        threading.Thread(target=self.beat, name="beat", daemon=True).start()

    async def connect(self, app: CeleryApp) -> Clients:
        records = Redis.from_url(redis_url_of(self.settings))
        jobs = CeleryJobs(self.adapter, app, records)
        mailer = AsyncEmailClient(self.settings)
        return Clients(self.settings, open_store(self.settings), mailer, jobs, records)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def beat(self) -> None:
        tracing.untraced_by_default()
        alive = self.adapter.key(ALIVE + self.me)
        while not self.stopped.is_set():
            try:
                pipe = self.client.pipeline()
                pipe.set(alive, 1, ex=GONE_S)
                pipe.expire(self.held, GONE_S)
                pipe.execute()
            except (redis.RedisError, OSError):
                pass  # Redis is down: the worker shows no sign of life until it is back
            self.stopped.wait(BEAT_S)

    def close(self) -> None:
        self.stopped.set()
        self.run(self.clients.mailer.aclose())
        tracing.flush()
        self.loop.call_soon_threadsafe(self.loop.stop)

    def took(self, job_id: str, function: str, args: Any, eta: float) -> None:
        row = {"function": function, "work_id": work_id_or_blank(function, args), "eta": eta}
        pipe = self.client.pipeline()
        pipe.hset(self.held, job_id, json.dumps(row))
        pipe.expire(self.held, GONE_S)  # lapses with the worker, even one killed at once
        self.execute(pipe)

    def finished(self, job_id: str, final: bool) -> None:
        if not final:
            # Its retry, under the same id, may already have been received and recorded here
            # (a short countdown): deleting now would hide it from the drain while it waits.
            return
        pipe = self.client.pipeline()
        pipe.hdel(self.held, job_id)
        pipe.set(self.adapter.key(DONE + job_id), 1, ex=self.settings.keep_result_s)
        self.execute(pipe)

    def execute(self, pipe: Any) -> None:
        # The harness's Redis down (redis-restart, a broker elsewhere): the task still runs;
        # only the watching side's view of what this worker holds is the poorer.
        try:
            pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("could not record a held task: %s", exc)


def on_celery(runtime_of: Any, name: str, function: JobFunction) -> Any:
    """A job function as Celery calls it: its request read into an `Attempt`, RetryLater as
    Celery's retry with a countdown, its timeout kept on the jobs' loop (the threads pool has
    no time limits)."""

    def run(task: Task, *args: Any) -> str:
        # A pool thread: its bookkeeping and a retry's publish untraced; the try traces itself.
        with tracing.untraced():
            return each_try(task, *args)

    def each_try(task: Task, *args: Any) -> str:
        runtime: Runtime = runtime_of()
        request = task.request
        enqueued_at = float(getattr(request, "enqueued_at", None) or 0.0)
        carried = getattr(request, "trace", None) or {}
        attempt = Attempt(request.id, request.retries + 1, enqueued_at, trace=carried)
        timeout_s = runtime.settings.job_timeout_s(name)
        final = True
        try:
            return runtime.run(
                asyncio.wait_for(function(runtime.clients, attempt, *args), timeout_s)
            )
        except RetryLater as retry:
            final = False
            raise task.retry(countdown=retry.defer_s) from retry
        except TimeoutError:
            return "timeout"  # recorded and dead-lettered by the job's bookkeeping
        finally:
            runtime.finished(request.id, final)

    run.__name__ = run.__qualname__ = name
    return run


def worker_app(adapter: Celery) -> CeleryApp:
    """The Celery app the worker runs; tests call this with their own settings."""
    app = adapter.app()
    lock = threading.Lock()
    made: list[Runtime] = []

    def runtime() -> Runtime:
        with lock:
            if not made:
                made.append(Runtime(adapter, app))
            return made[0]

    for name, function in FUNCTIONS.items():
        # max_retries: the job's bookkeeping dead-letters the last try; Celery never gives up first.
        app.task(name=name, bind=True, max_retries=adapter.settings.max_tries)(
            on_celery(runtime, name, function)
        )

    def received(request: Any, **_: Any) -> None:
        eta = request.eta
        due = 0.0 if not eta else eta_seconds(eta)
        runtime().took(request.id, request.name, request.args, due)

    def ready(**_: Any) -> None:
        runtime()
        tracing.untraced_by_default()  # the consumer's thread: kombu's fetches and acks

    def shutdown(**_: Any) -> None:
        if made:
            made[0].close()

    signals.task_received.connect(received, weak=False)
    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutdown.connect(shutdown, weak=False)
    return app


def eta_seconds(eta: Any) -> float:
    return eta_of({"eta": eta if isinstance(eta, str) else eta.isoformat()})


def __getattr__(name: str) -> CeleryApp:
    # `celery -A queues.celery_worker:celery` looks the app up here: settings are read from the
    # environment then, not when the module is imported.
    adapters = {"celery": Celery, "celery_acks_late": CeleryAcksLate}
    if name in adapters:
        return worker_app(adapters[name](Settings()))
    raise AttributeError(name)
