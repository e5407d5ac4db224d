"""A queue that stops answering without going away: the login answers 503, it does not hang."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from core.redis_server import free_port
from core.settings import Settings
from targets import queued
from tests.support import redis_process, serve

# Long enough that an answer while it lasts can only come from the handler's own bound.
STALL_S = 60.0


@pytest.mark.parametrize("variant", ["delegated", "saq", "celery"])  # their queues live in Redis
def test_a_paused_redis_gets_a_503_within_the_queue_timeout_and_then_recovers(
    settings: Settings, tmp_path: Path, variant: str
) -> None:
    port = free_port()
    with redis_process(port, tmp_path) as redis:
        own = settings.model_copy(
            update={"redis_url": f"redis://127.0.0.1:{port}/0", "queue_timeout_s": 0.5}
        )
        with (
            serve(queued.create_app(own, variant)) as url,
            httpx.Client(base_url=url, timeout=STALL_S) as client,
        ):
            login = {"email": "nobody@example.net"}
            assert client.post("/login", json=login).status_code == 202
            os.kill(redis.pid, signal.SIGSTOP)
            paused_at = time.monotonic()
            try:
                answer = client.post("/login", json=login)
                answered_in = time.monotonic() - paused_at
            finally:
                os.kill(redis.pid, signal.SIGCONT)
            assert answer.status_code == 503, answer.text
            assert "unavailable" in answer.json()["detail"]
            assert answered_in < STALL_S  # while Redis was still paused
            # Resumed, the same target takes logins again.
            deadline = time.monotonic() + 30
            while client.post("/login", json=login).status_code != 202:
                assert time.monotonic() < deadline, "no 202 within 30 s of the resume"
                time.sleep(0.2)
