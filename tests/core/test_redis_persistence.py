"""What a Redis crash does to queued jobs, with and without the append-only file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis

from core.redis_server import free_port
from core.settings import Settings
from queues.arq import Arq
from tests.support import redis_process


async def enqueue(url: str, count: int) -> None:
    queue = await Arq(Settings(redis_url=url)).connect()
    for i in range(count):
        await queue.enqueue("send_magic_link", f"r{i}", "a@b.co", "http://t", job_id=f"j{i}")
    await queue.close()


@pytest.mark.parametrize(("appendonly", "surviving"), [(True, 20), (False, 0)])
def test_queued_jobs_survive_a_redis_crash_only_with_the_append_only_file(
    tmp_path: Path, appendonly: bool, surviving: int
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_process(port, tmp_path, appendonly) as first:
        asyncio.run(enqueue(url, 20))
        time.sleep(1.2)  # appendfsync everysec: what is older than a second is on disk
        first.kill()  # a crash: no chance to save anything
        first.wait()
    with redis_process(port, tmp_path, appendonly), redis.Redis.from_url(url) as client:
        assert client.zcard("arq:queue") == surviving
        assert (client.get("arq:job:j0") is not None) is appendonly
