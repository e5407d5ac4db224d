"""The one shape of a queue adapter: what the target, the workers and the runner ask of a queue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, TypeVar

import redis

from core.contracts import work_id_of_job
from core.settings import Settings

if TYPE_CHECKING:
    from starlette.background import BackgroundTasks

    from core.db import Store


class QueueUnavailable(Exception):
    """The queue cannot take a job now (its server is down or does not answer)."""


class JobQueue(Protocol):
    """A connected queue, as the target's handlers and the jobs' own fan-out use it."""

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: BackgroundTasks | None = None,
    ) -> bool:
        """Queue a job; False when a job with this id is already queued, running or kept.

        `background`: the request's after-response tasks, for a queue that runs the job in the
        web process; the others ignore it.
        """
        ...

    async def commit_with(
        self,
        store: Store,
        change: Callable[[Store], bool],
        function: str,
        *args: Any,
        job_id: str,
        background: BackgroundTasks | None = None,
    ) -> bool:
        """Run the state change `change(store)` and, when it says the job is owed (True), queue
        the job; return what `change` returned. See `JobQueueBase` and the database queue."""
        ...

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Wait until the job has finished, however it ended, or the timeout passed."""
        ...

    async def close(self) -> None: ...


class JobQueueBase:
    """A queue outside the store: the change commits first, then the job is queued.

    A crash between the two leaves the change without its job, until the sender retries (a
    webhook's redelivery hands a pending event off again). A queue inside the store's database
    overrides `commit_with` to commit both in one transaction.
    """

    async def enqueue(
        self,
        function: str,
        *args: Any,
        job_id: str,
        defer_s: float | None = None,
        background: BackgroundTasks | None = None,
    ) -> bool:
        raise NotImplementedError

    async def commit_with(
        self,
        store: Store,
        change: Callable[[Store], bool],
        function: str,
        *args: Any,
        job_id: str,
        background: BackgroundTasks | None = None,
    ) -> bool:
        owed = await asyncio.to_thread(change, store)
        if owed:
            await self.enqueue(function, *args, job_id=job_id, background=background)
        return owed


class Depth(TypedDict):
    ready: int  # due, waiting for a worker
    deferred: int  # waiting for its time (a retry's backoff, a delay)
    in_progress: int


class PendingJob(TypedDict):
    job_id: str
    function: str  # "" when the job's body could not be read
    work_id: str  # "" when it serves no work the harness knows


class Queue:
    """Everything the harness knows of one queue library, for one stack's settings.

    The target connects; the workers run `python -m <worker>`; the runner, the demo and the
    benchmarks watch its depth, its pending jobs and its workers' sign of life, and reset it.
    The watching side is synchronous: the runner's loop is.
    """

    name: ClassVar[str]
    # `python -m` arguments of its worker; None for a queue that lives in the web process.
    worker: ClassVar[tuple[str, ...] | None]
    packages: ClassVar[tuple[str, ...]] = ()  # the distributions it runs on (meta.json)
    # `make perf`'s goals: the login's least share of its ceiling's rate (None: reported, not
    # judged), and the most its pickup may add at steady (None: no goal).
    login_share_goal: ClassVar[float | None] = 0.90
    pickup_goal_ms: ClassVar[float | None] = None
    # Its jobs live in the store's database: every variant of a run then shares a PostgreSQL
    # store (the harness's own when DATABASE_URL is unset).
    needs_database: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def check(self) -> None:
        """Exit with one line saying what to set, when a setting the queue needs is missing."""

    def describe(self) -> dict[str, object]:
        """What a run's meta.json records of the queue beyond its settings (no secrets)."""
        return {}

    async def connect(self, store: Store | None = None) -> JobQueue:
        """The target's connection; `store` is the target's, for a queue that keeps its jobs
        beside the target's data."""
        raise NotImplementedError

    def depth(self) -> Depth:
        raise NotImplementedError(f"{self.name}: its depth cannot be seen from outside")

    def pending(self) -> list[PendingJob]:
        """Every job still queued or running, with the work id it owes."""
        raise NotImplementedError(f"{self.name}: its jobs cannot be seen from outside")

    def idle(self) -> bool:
        """No job is queued, deferred or running; False when the queue cannot be asked."""
        try:
            return not any(self.depth().values())
        except QueueUnavailable:
            return False

    def worker_alive(self) -> bool:
        """Whether a worker has shown that it serves this queue since `forget_workers`."""
        raise NotImplementedError(f"{self.name} has no workers")

    def forget_workers(self) -> None:
        """Drop the signs of life of workers that served the queue before."""

    def reset(self) -> None:
        """Empty the queue: no job, no kept result, no sign of a worker."""

    def close(self) -> None:
        """Close what the watching side opened."""


class OnRedis(Queue):
    """A queue whose jobs live in Redis: it needs REDIS_URL, and the runner watches it with one
    client whose every wait is bounded by QUEUE_TIMEOUT_S."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._client: redis.Redis | None = None

    def check(self) -> None:
        redis_url_of(self.settings)

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            url, wait_s = redis_url_of(self.settings), self.settings.queue_timeout_s
            self._client = redis.Redis.from_url(
                url, socket_timeout=wait_s, socket_connect_timeout=wait_s
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


T = TypeVar("T")
# Hand-offs given up on: kept referenced until they end, whenever their server lets them.
ABANDONED: set[asyncio.Future[Any]] = set()


async def bounded(call: Awaitable[T], timeout_s: float, what: str = "the queue") -> T:
    """`call`'s result, or TimeoutError after `timeout_s` without waiting for it to stop.

    asyncio.wait_for would wait for the cancelled call to end, and psycopg's cancel of a query
    to a paused server waits for the server: a handler would hang as long as the stall.
    """
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if task in done:
        return task.result()
    task.cancel()
    ABANDONED.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError(f"{what} did not answer within {timeout_s:g}s")


def _forget(task: asyncio.Future[Any]) -> None:
    ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: its failure was answered with a 503 already


def redis_url_of(settings: Settings) -> str:
    if settings.redis_url is None:
        raise SystemExit("REDIS_URL is not set: start the stack with `make serve` or set it")
    return settings.redis_url


def work_id_or_blank(function: str, args: Any) -> str:
    """The work id a job's arguments name, "" for arguments that are not ours."""
    try:
        return work_id_of_job(function, list(args))
    except (ValueError, TypeError):
        return ""
