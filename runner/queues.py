"""Each queue variant's queue as the runner sees it: depth, pending jobs, a worker's sign of life.

The queue library is the program that runs the variant's workers (`arq ...` or `saq ...`); the
variants without workers (sync, background) have no queue to watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from core.contracts import variant
from core.queue import saq_key, saq_pending_jobs, saq_queue_depth
from core.settings import Settings
from runner.pending import pending_jobs
from runner.sampling import queue_depth


@dataclass(frozen=True)
class Queue:
    kind: str  # "arq" or "saq"
    name: str  # the queue's name in Redis

    def depth(self, client: redis.Redis, now_ms: int) -> dict[str, int]:
        """Ready, deferred and in-progress jobs, in one consistent look."""
        if self.kind == "saq":
            return saq_queue_depth(client, self.name)
        return queue_depth(client, self.name, now_ms)

    def pending(self, client: redis.Redis) -> list[dict[str, Any]]:
        """Every job still queued or running, with the work id it owes."""
        if self.kind == "saq":
            return saq_pending_jobs(client, self.name)
        return pending_jobs(client, self.name)

    @property
    def alive_keys(self) -> str:
        """A Redis key pattern a worker writes once it is serving the queue."""
        if self.kind == "saq":
            return saq_key(self.name, "worker_info:*")  # written as its upkeep starts
        return f"{self.name}:health-check"  # arq writes it on the worker's first poll


def queue_of(name: str, settings: Settings) -> Queue | None:
    """The queue a variant's workers serve, None for a variant that has no workers."""
    worker = variant(name).worker
    if worker is None:
        return None
    kind = worker[0]
    if kind == "saq":
        return Queue("saq", settings.saq_queue_name)
    if kind == "arq":
        return Queue("arq", settings.queue_name)
    raise ValueError(f"variant {name!r}: no queue is known for workers run by {kind!r}")
