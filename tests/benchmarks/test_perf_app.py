"""`make perf`'s calibration routes do what their names say, on a real server and Redis."""

from __future__ import annotations

import httpx
import pytest
from arq.constants import job_key_prefix
from redis import Redis

from benchmarks import perf_app
from core.queue import saq_job_key
from core.settings import Settings
from targets.base import LOGIN_ACCEPTED
from tests.support import serve


@pytest.mark.parametrize("factory", ["create_app", "create_saq_app"])
def test_one_rpush_and_the_enqueue_alone_answer_as_the_login_does(
    factory: str, settings: Settings
) -> None:
    app = getattr(perf_app, factory)(settings)
    redis = Redis.from_url(str(settings.redis_url))
    with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        answers = {
            path: client.post(path, json={"email": f"Someone{n}@Example.net"})
            for n, path in enumerate(("/perf/rpush", "/perf/enqueue", "/login"))
        }
        bad = client.post("/perf/enqueue", json={"email": "nobody"})
    for path, answer in answers.items():
        assert (answer.status_code, answer.json()) == (202, LOGIN_ACCEPTED), path
    # Validated like the login: a bad address is refused before Redis is touched.
    assert bad.status_code == 422
    assert redis.lrange("perf:rpush", 0, -1) == [b"someone0@example.net"]
    job_id = "perf:someone1@example.net"
    key = (
        saq_job_key(settings.saq_queue_name, job_id)
        if "saq" in factory
        else job_key_prefix + job_id
    )
    assert redis.exists(key)
    redis.close()
