"""`make perf`'s ceiling is the login itself, its enqueue one RPUSH, on a real server and Redis."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from redis import Redis

from benchmarks import perf_app
from core.contracts import WORK_ID_HEADER, login_job_id, login_work_id
from core.settings import Settings
from targets import base, queued
from tests.support import serve


def test_the_ceiling_answers_every_login_as_the_login_does_with_one_rpush(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "new_login_id", lambda: "l1")
    bodies = [{"email": "Someone@Example.net"}, {"email": "nobody"}, {}]
    answers, keys = {}, {}
    redis = Redis.from_url(str(settings.redis_url))
    for name, app in (
        ("ceiling", perf_app.create_app(settings)),
        ("login", queued.create_app(settings, "delegated")),
    ):
        with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            answers[name] = [client.post("/login", json=body) for body in bodies]
        keys[name] = set(redis.scan_iter())
    for login, ceiling in zip(answers["login"], answers["ceiling"], strict=True):
        assert (ceiling.status_code, ceiling.json()) == (login.status_code, login.json())
        assert (WORK_ID_HEADER in ceiling.headers) == (WORK_ID_HEADER in login.headers)
    # The accepted login promised its work and pushed its job id: one RPUSH, nothing else.
    assert answers["ceiling"][0].headers[WORK_ID_HEADER] == login_work_id("l1")
    assert keys["ceiling"] == {perf_app.CEILING_LIST.encode()}
    assert redis.lrange(perf_app.CEILING_LIST, 0, -1) == [login_job_id("l1").encode()]
    redis.close()


def test_the_database_ceiling_answers_as_the_database_queues_login_with_one_insert(
    settings: Settings, embedded_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.model_copy(update={"database_url": embedded_postgres_url})
    monkeypatch.setattr(base, "new_login_id", lambda: "l2")
    with psycopg.connect(embedded_postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {perf_app.CEILING_TABLE}")
    answers = {}
    for name, app in (
        ("ceiling", perf_app.create_db_app(settings)),
        ("login", queued.create_app(settings, "procrastinate")),
    ):
        with serve(app) as url, httpx.Client(base_url=url, timeout=10) as client:
            answers[name] = [client.post("/login", json=body) for body in ({"email": "a@b.net"},)]
    (login,), (ceiling,) = answers["login"], answers["ceiling"]
    assert (ceiling.status_code, ceiling.json()) == (login.status_code, login.json())
    with psycopg.connect(embedded_postgres_url) as conn:
        rows = conn.execute(f"SELECT job_id FROM {perf_app.CEILING_TABLE}").fetchall()
    assert rows == [(login_job_id("l2"),)]
