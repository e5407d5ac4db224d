"""Jobs left in the queue when a run stops waiting are listed with the work they serve."""

from __future__ import annotations

from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from redis import Redis

from runner.pending import pending_jobs

QUEUE = "arq:test-pending"


def test_queued_deferred_and_running_jobs_are_pending(redis_url: str) -> None:
    with Redis.from_url(redis_url) as client:
        client.flushdb()
        jobs = {
            "login:r1": ("send_magic_link", ("r1", "user1@example.com", "http://t")),
            "ticket:7:2": ("generate_ticket", (7, 2, "r2")),
            "mystery": ("resize_video", (1,)),
        }
        for score, (job_id, (function, args)) in enumerate(jobs.items()):
            client.set(job_key_prefix + job_id, serialize_job(function, args, {}, 1, 0))
            client.zadd(QUEUE, {job_id: score})
        # A deferred retry has a future score; a running job also holds an in-progress key.
        client.zadd(QUEUE, {"login:r1": 2**50})
        client.set(in_progress_key_prefix + "ticket:7:2", b"1")
        client.set(in_progress_key_prefix + "gone", b"1")  # its payload already expired
        rows = pending_jobs(client, QUEUE)
        client.flushdb()
    assert rows == [
        {"job_id": "gone", "function": "", "work_id": ""},
        {"job_id": "login:r1", "function": "send_magic_link", "work_id": "login:r1"},
        {"job_id": "mystery", "function": "resize_video", "work_id": ""},
        {"job_id": "ticket:7:2", "function": "generate_ticket", "work_id": "order:7"},
    ]
