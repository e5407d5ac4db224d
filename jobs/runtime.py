"""The arq job functions of `jobs/tasks.py`, run by something else: saq's worker or the web process.

`@job` reads arq's ctx (job id, try, enqueue time, Redis for the records) and raises arq's
`Retry(defer=...)`; the other runners build that ctx and read the delay, so the domain code and
its bookkeeping stay one copy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from arq import Retry
from redis.asyncio import Redis

from core.contracts import JOB_FUNCTIONS
from jobs import tasks
from jobs.bookkeeping import CLIENTS, TIMEOUTS_RETRIED, Clients

JobFunction = Callable[..., Awaitable[str]]
FUNCTIONS: dict[str, JobFunction] = {name: getattr(tasks, name) for name in JOB_FUNCTIONS}


def arq_ctx(
    clients: Clients,
    redis: Redis | Any,
    job_id: str,
    job_try: int,
    enqueued_at: float,
    timeouts_retried: bool = False,
) -> dict[str, Any]:
    """What arq's worker hands a job, as far as `@job` reads it (`redis` takes its records)."""
    return {
        CLIENTS: clients,
        TIMEOUTS_RETRIED: timeouts_retried,
        "redis": redis,
        "job_id": job_id,
        "job_try": job_try,
        "enqueue_time": datetime.fromtimestamp(enqueued_at, UTC),
    }


def retry_delay_s(retry: Retry) -> float:
    return (retry.defer_score or 0) / 1000
