"""The celery queue on Redis: the task message Celery's `send_task` writes, pushed with its id's
claim in one call; a claimed id is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from redis.asyncio import Redis

from core.contracts import GENERATE_TICKET, SEND_MAGIC_LINK, login_job_id, ticket_job_id
from core.settings import Settings
from queues.base import QueueUnavailable
from queues.celery import Celery, CeleryJobs

# Set per publish: when, by which thread (`send_task` names it for RPC replies; results are
# ignored here), and kombu's own tag.
VOLATILE = {"eta", "enqueued_at", "reply_to", "delivery_tag"}


@pytest.fixture
async def queue(settings: Settings, redis: Redis) -> Any:
    jobs = await Celery(settings).connect()
    yield jobs
    await jobs.close()


async def queued(redis: Redis, jobs: CeleryJobs) -> list[dict[str, Any]]:
    """The queue's messages, oldest first, the body decoded and per-publish values blanked."""
    raw: list[bytes] = await redis.lrange(jobs.adapter.key(jobs.queue), 0, -1)  # type: ignore[misc]
    messages = []
    for entry in reversed(raw):
        message = json.loads(entry)
        message["body"] = json.loads(base64.b64decode(message["body"]))
        for part in (message["headers"], message["properties"]):
            part.update({key: "" for key in VOLATILE & part.keys()})
        messages.append(message)
    return messages


async def test_a_queued_task_is_the_message_celerys_send_task_writes(
    redis: Redis, queue: CeleryJobs
) -> None:
    job_id = ticket_job_id(9, 2)
    args = (9, 2, "r9")
    await queue.enqueue(GENERATE_TICKET, *args, job_id=job_id, defer_s=5)
    queue.app.send_task(
        GENERATE_TICKET,
        args=args,
        task_id=job_id,
        countdown=5,
        headers={"enqueued_at": 0.0},
        exchange="",
        routing_key=queue.queue,
    )

    ours, theirs = await queued(redis, queue)
    assert ours == theirs
    assert ours["headers"]["id"] == job_id and ours["body"][0] == list(args)


async def test_a_claimed_id_is_refused_and_nothing_more_is_queued(
    redis: Redis, queue: CeleryJobs
) -> None:
    job_id = login_job_id("r1")
    assert await queue.enqueue(SEND_MAGIC_LINK, "r1", "nobody1@example.net", "t", job_id=job_id)
    assert not await queue.enqueue(SEND_MAGIC_LINK, "r1", "x", "y", job_id=job_id)

    (message,) = await queued(redis, queue)
    assert message["body"][0] == ["r1", "nobody1@example.net", "t"]


async def test_a_queue_without_redis_says_so(settings: Settings) -> None:
    nowhere = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1"})
    with pytest.raises(QueueUnavailable):
        await Celery(nowhere).connect()
