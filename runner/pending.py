"""Jobs still queued or running when a run stops waiting: pending work, not lost work."""

from __future__ import annotations

from typing import Any

import redis
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import DeserializationError, deserialize_job

from core.contracts import work_id_of_job


def pending_jobs(client: redis.Redis, queue_name: str) -> list[dict[str, Any]]:
    """One row per job id in the queue (ready or deferred) or in progress, with its work id.

    A job stays in the queue's sorted set while it runs, so one ZRANGE is a consistent
    snapshot; the in-progress keys add any job a worker holds outside it.
    """
    queued: list[bytes] = client.zrange(queue_name, 0, -1)  # type: ignore[assignment]
    ids = {raw.decode() for raw in queued}
    for key in client.scan_iter(match=f"{in_progress_key_prefix}*", count=1000):
        ids.add(key.decode().removeprefix(in_progress_key_prefix))
    rows = []
    for job_id in sorted(ids):
        payload: bytes | None = client.get(job_key_prefix + job_id)  # type: ignore[assignment]
        function, work_id = "", ""
        if payload is not None:
            try:
                job = deserialize_job(payload)
                function = job.function
                work_id = work_id_of_job(job.function, job.args)
            except (DeserializationError, ValueError):
                pass  # gone, unreadable or not ours: listed, but owed to no known work
        rows.append({"job_id": job_id, "function": function, "work_id": work_id})
    return rows
