"""What the runner asks of a queue: its pending jobs with their work, its depth, its workers'
sign of life, and a reset between runs."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job

from core.contracts import VARIANT_NAMES, variant
from core.settings import Settings
from queues import adapter, has_workers, needs_database, queue_of
from queues.arq import Arq
from tests.support import worker_env, workers

QUEUE = "arq:test-pending"


def test_queued_deferred_and_running_jobs_are_pending(settings: Settings) -> None:
    arq = Arq(settings.model_copy(update={"queue_name": QUEUE}))
    client = arq.client
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
    try:
        assert arq.pending() == [
            {"job_id": "gone", "function": "", "work_id": ""},
            {"job_id": "login:r1", "function": "send_magic_link", "work_id": "login:r1"},
            {"job_id": "mystery", "function": "resize_video", "work_id": ""},
            {"job_id": "ticket:7:2", "function": "generate_ticket", "work_id": "order:7"},
        ]
        # arq keeps a running job in its queue: it is ready and in progress at once.
        assert arq.depth() == {"ready": 2, "deferred": 1, "in_progress": 2}
        arq.reset()
        assert arq.depth() == {"ready": 0, "deferred": 0, "in_progress": 0}
        assert arq.pending() == []
    finally:
        client.flushdb()
        arq.close()


def test_every_variant_names_a_known_queue_or_none() -> None:
    for name in VARIANT_NAMES:
        queue = variant(name).queue
        assert queue is None or adapter(queue).name == queue


@pytest.mark.parametrize("name", [n for n in VARIANT_NAMES if has_workers(n)])
def test_a_started_worker_shows_its_sign_of_life_and_forgetting_clears_it(
    settings: Settings, name: str, request: pytest.FixtureRequest
) -> None:
    if needs_database([name]):
        url = request.getfixturevalue("embedded_postgres_url")
        settings = settings.model_copy(update={"database_url": url})
    queue = queue_of(name, settings)
    assert queue is not None
    queue.forget_workers()
    assert not queue.worker_alive()
    try:
        with workers(name, worker_env(settings, DATABASE_URL=settings.database_url or "")):
            wait_until(queue.worker_alive)
        queue.forget_workers()
        assert not queue.worker_alive()
    finally:
        queue.close()


def wait_until(ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60  # generous: the machine is shared
    while not ready():
        assert time.monotonic() < deadline, "no worker showed a sign of life within 60 s"
        time.sleep(0.05)
