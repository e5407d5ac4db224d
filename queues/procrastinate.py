"""procrastinate: jobs in PostgreSQL beside the data, committed with the change that owes them.

Workers run `python -m queues.procrastinate_worker`. The target's store must be PostgreSQL (the
harness starts its own with no DATABASE_URL): `commit_with` writes the state change and the job
in one transaction of that store.
"""

from __future__ import annotations

import asyncio
import datetime
import queue as threads
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
from procrastinate import App, PsycopgConnector, SyncPsycopgConnector
from procrastinate import exceptions as pc
from procrastinate.jobs import Job
from procrastinate.types import JSONValue
from psycopg_pool import PoolTimeout

from core import tracing
from core.db import Store
from core.settings import Settings
from queues.base import (
    Depth,
    JobQueue,
    JobQueueBase,
    PendingJob,
    Queue,
    QueueUnavailable,
    bounded,
    work_id_or_blank,
)

if TYPE_CHECKING:
    from core.db.postgres import PostgresStore

# A job id is ours, in the job's arguments; this index makes a second job with one id fail to
# insert, whatever the first's status: a duplicate is a no-op while the job is kept, as on arq.
JOB_ID_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS bench_job_id ON procrastinate_jobs ((args->>'job_id'))"
)
SYSTEM = "procrastinate"  # the messaging system its spans name
UNREACHABLE = (psycopg.Error, pc.ConnectorException, PoolTimeout, OSError, TimeoutError)


def database_url_of(settings: Settings) -> str:
    if not settings.database_url:
        raise SystemExit(
            "DATABASE_URL is not set: the database queue keeps its jobs in PostgreSQL; start the"
            " stack with `make serve` (it starts its own) or set DATABASE_URL"
        )
    return settings.database_url


def ensure_schema(url: str) -> None:
    """procrastinate's tables and our job-id index, once, whoever gets there first."""
    from core.db.postgres import SCHEMA_LOCK

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is None or row[0] is None:
            app = App(connector=SyncPsycopgConnector(conninfo=url))
            conn.execute(app.schema_manager.get_schema())
        conn.execute(JOB_ID_INDEX)


def new_job(
    settings: Settings,
    function: str,
    args: tuple[Any, ...],
    job_id: str,
    defer_s: float | None,
    trace: dict[str, str],
) -> Job:
    now = datetime.datetime.now(datetime.UTC)
    kwargs: dict[str, JSONValue] = {
        "args": list(args),
        "job_id": job_id,
        "enqueued_at": now.timestamp(),
    }
    if trace:
        kwargs["trace"] = dict(trace)
    return Job(
        id=None,
        queue=settings.procrastinate_queue_name,
        task_name=function,
        lock=None,
        queueing_lock=None,
        task_kwargs=kwargs,
        scheduled_at=now + datetime.timedelta(seconds=defer_s) if defer_s else None,
    )


class ProcrastinateJobs(JobQueueBase):
    """The target's and the jobs' connection: a job is one call of procrastinate's defer."""

    def __init__(self, app: App, settings: Settings, owned: bool = True) -> None:
        self.app = app
        self.settings = settings
        self.owned = owned
        self.timeout_s = settings.queue_timeout_s
        # For a defer on a connection of ours, in a thread: never opened, it only writes SQL.
        sync = SyncPsycopgConnector(conninfo=database_url_of(settings))
        self.in_transaction = App(connector=sync).job_manager

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: Any = None,
    ) -> bool:
        queue = self.settings.procrastinate_queue_name
        with tracing.producer(SYSTEM, queue, function, job_id, args) as carried:
            job = new_job(self.settings, function, args, job_id, defer_s, carried)
            try:
                await bounded(self.app.job_manager.defer_job_async(job), self.timeout_s)
            except pc.UniqueViolation:
                return False
            except UNREACHABLE as exc:
                raise QueueUnavailable(str(exc) or type(exc).__name__) from exc
        return True

    async def commit_with(
        self,
        store: Store,
        change: Callable[[Store], bool],
        function: str,
        *args: Any,
        job_id: str,
        background: Any = None,
    ) -> bool:
        """`change` and the job in one transaction: both commit, or neither."""
        queue = self.settings.procrastinate_queue_name
        with tracing.producer(SYSTEM, queue, function, job_id, args) as carried:
            job = new_job(self.settings, function, args, job_id, None, carried)
            call = asyncio.to_thread(self.commit, store, change, job)
            try:
                return await bounded(call, self.timeout_s)
            except UNREACHABLE as exc:
                raise QueueUnavailable(str(exc) or type(exc).__name__) from exc

    def commit(self, store: Store, change: Callable[[Store], bool], job: Job) -> bool:
        pg: PostgresStore = store  # type: ignore[assignment]  # connect() made sure
        with pg.transaction() as (bound, conn):
            owed = change(bound)
            if owed:
                try:
                    with conn.transaction():  # a duplicate id undoes only its own insert
                        self.in_transaction.defer_job(job, connection=conn)
                except pc.UniqueViolation:
                    pass
        return owed

    async def wait(self, job_id: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        query = "SELECT status FROM procrastinate_jobs WHERE args->>'job_id' = %(job_id)s"
        while time.monotonic() < deadline:
            try:
                rows = await self.app.connector.execute_query_all_async(query, job_id=job_id)
            except UNREACHABLE:
                return
            if not rows or rows[0]["status"] not in ("todo", "doing"):
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.owned:
            await self.app.close_async()


def connector(settings: Settings, max_size: int, timeout_s: float) -> PsycopgConnector:
    """A pool whose wait for a free connection, and each connect, give up after `timeout_s`."""
    return PsycopgConnector(
        conninfo=database_url_of(settings),
        min_size=1,
        max_size=max_size,
        timeout=timeout_s,
        kwargs={"connect_timeout": max(1, round(timeout_s))},
    )


class Procrastinate(Queue):
    name = "procrastinate"
    packages = ("procrastinate", "psycopg")
    login_share_goal = None  # against its one-INSERT ceiling: reported (issue 22 set no goal)
    pickup_goal_ms = 20.0  # workers woken by LISTEN/NOTIFY
    worker = ("queues.procrastinate_worker",)
    needs_database = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.queue_name = settings.procrastinate_queue_name
        self._conn: psycopg.Connection[Any] | None = None
        self._since: datetime.datetime | None = None

    def check(self) -> None:
        database_url_of(self.settings)

    async def connect(self, store: Store | None = None) -> JobQueue:
        from core.db.postgres import PostgresStore

        if not isinstance(store, PostgresStore):
            raise SystemExit("the database queue needs the store in PostgreSQL: set DATABASE_URL")
        await asyncio.to_thread(ensure_schema, store.url)
        # 40: a target's hand-offs at once, as the store's pool (core.db.pool_size)
        app = App(connector=connector(self.settings, 40, self.settings.queue_timeout_s))
        await app.open_async()
        return ProcrastinateJobs(app, self.settings)

    # The watching side: each look is bounded, so a paused server cannot hang the runner.

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        answer: threads.Queue[list[tuple[Any, ...]] | BaseException] = threads.Queue()

        def execute() -> list[tuple[Any, ...]]:
            if self._conn is None or self._conn.closed:
                url = database_url_of(self.settings)
                ensure_schema(url)  # the runner may look before any target or worker ran
                self._conn = psycopg.connect(url, autocommit=True, connect_timeout=2)
            cursor = self._conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

        def run() -> None:
            try:
                try:
                    answer.put(execute())
                except psycopg.OperationalError:
                    if self._conn is None or not self._conn.broken:
                        raise
                    # The server restarted since the last look (db-outage): once more, anew.
                    self._conn = None
                    answer.put(execute())
            except BaseException as exc:  # handed to the caller
                answer.put(exc)

        threading.Thread(target=run, daemon=True).start()
        try:
            got = answer.get(timeout=max(2.0, 2 * self.settings.queue_timeout_s))
        except threads.Empty:
            self._conn = None  # abandoned to the thread that hangs on it
            raise QueueUnavailable("PostgreSQL did not answer") from None
        if isinstance(got, BaseException):
            self._conn = None
            raise QueueUnavailable(str(got)) from got
        return got

    def depth(self) -> Depth:
        ((ready, deferred, running),) = self.query(
            "SELECT count(*) FILTER (WHERE status = 'todo'"
            " AND coalesce(scheduled_at <= now(), true)),"
            " count(*) FILTER (WHERE status = 'todo' AND scheduled_at > now()),"
            " count(*) FILTER (WHERE status = 'doing')"
            " FROM procrastinate_jobs WHERE queue_name = %s",
            (self.queue_name,),
        )
        return {"ready": int(ready), "deferred": int(deferred), "in_progress": int(running)}

    def pending(self) -> list[PendingJob]:
        rows = self.query(
            "SELECT args->>'job_id', task_name, args->'args' FROM procrastinate_jobs"
            " WHERE queue_name = %s AND status IN ('todo', 'doing') ORDER BY id",
            (self.queue_name,),
        )
        return [
            {
                "job_id": job_id or "",
                "function": function,
                "work_id": work_id_or_blank(function, args),
            }
            for job_id, function, args in rows
        ]

    def worker_alive(self) -> bool:
        since = self._since or datetime.datetime.min.replace(tzinfo=datetime.UTC)
        rows = self.query("SELECT 1 FROM procrastinate_workers WHERE last_heartbeat > %s", (since,))
        return bool(rows)

    def forget_workers(self) -> None:
        # Deleting a worker's row would orphan its running jobs (and retry them as stalled):
        # only heartbeats after this moment count.
        ((self._since,),) = self.query("SELECT now()")

    def reset(self) -> None:
        self.query(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers"
        )
        self.forget_workers()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
