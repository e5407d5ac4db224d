"""Delegated work under provider faults: retried in the background, dead-lettered at the end."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis

from core import dataset
from core.contracts import SEND_MAGIC_LINK, login_job_id, login_work_id
from core.db import Store
from core.settings import Settings
from targets import queued
from tests.support import connect_queue, drain, job_events, messages, serve

OUTAGE = {"errors": [{"status": 503, "probability": 1.0}]}


async def queue_login(settings: Settings, request_id: str, user: int) -> None:
    """What the delegated login enqueues for a registered address, without the target."""
    queue = await connect_queue("arq", settings)
    args = (request_id, dataset.registered_email(user), "http://t")
    await queue.enqueue(SEND_MAGIC_LINK, *args, job_id=login_job_id(request_id))
    await queue.close()


async def test_delegated_keeps_answering_through_an_outage_and_delivers_after_recovery(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    patient = settings.model_copy(update={"max_tries": 40, "retry_base_s": 0.1})
    provider.post(
        "/control/timeline", json={"events": [{"at_s": 0, "duration_s": 1.0, "faults": OUTAGE}]}
    )
    addresses = [dataset.registered_email(i) for i in range(5)]
    async with httpx.AsyncClient(timeout=5) as client:
        with serve(queued.create_app(patient, "delegated")) as url:
            answers = [
                await client.post(f"{url}/login", json={"email": a}, headers={"X-Request-ID": rid})
                for rid, a in zip(["o0", "o1", "o2", "o3", "o4"], addresses, strict=True)
            ]
            assert [a.status_code for a in answers] == [202] * 5
            await drain(patient)

    sent = messages(provider, kind="magic_link")
    assert sorted(m["to"] for m in sent) == sorted(addresses)
    assert all(m["attempts"] == 1 for m in sent)
    counters = provider.get("/control/counters").json()
    assert counters["by_status"].get("503", 0) >= 5  # every job saw the outage first
    retried = [e for e in await job_events(redis) if e["outcome"] == "retry"]
    assert len(retried) >= 5
    assert store.dead_letters() == []


async def test_exhausted_retries_leave_a_dead_letter(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    provider.put("/control/faults", json=OUTAGE).raise_for_status()
    await queue_login(settings, "r-dead", 1)
    await drain(settings)

    (letter,) = store.dead_letters()
    assert letter["work_id"] == "login:r-dead"
    assert letter["tries"] == settings.max_tries
    assert letter["reason"] == "gave up after 3 tries: provider answered 503"
    outcomes = [e["outcome"] for e in await job_events(redis)]
    assert outcomes == ["retry", "retry", "dead_letter"]
    assert messages(provider) == []


async def test_a_refused_message_is_not_retried(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    provider.put("/control/faults", json={"errors": [{"status": 400, "probability": 1.0}]})
    await queue_login(settings, "r-400", 2)
    await drain(settings)

    (letter,) = store.dead_letters()
    assert letter["tries"] == 1
    assert "400" in str(letter["reason"])
    assert [e["outcome"] for e in await job_events(redis)] == ["dead_letter"]


async def test_rate_limit_is_honoured_with_retry_after(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    limited = {"errors": [{"status": 429, "probability": 1.0, "retry_after_s": 1}]}
    provider.post(
        "/control/timeline", json={"events": [{"at_s": 0, "duration_s": 0.5, "faults": limited}]}
    )
    await queue_login(settings, "r-429", 3)
    await drain(settings)

    first, second = await job_events(redis)
    assert first["outcome"] == "retry" and second["outcome"] == "ok"
    # Full jitter alone would retry within retry_cap_s (0.2 s); Retry-After asked for 1 s.
    assert float(second["started_at"]) - float(first["ended_at"]) >= 0.95
    assert len(messages(provider, work_id="login:r-429")) == 1


async def test_a_job_whose_worker_died_on_the_last_try_is_dead_lettered(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    await queue_login(settings, "r-crash", 4)
    # arq counts tries in this key; a worker killed mid-job leaves it incremented.
    await redis.set("arq:retry:login:r-crash", settings.max_tries)
    await drain(settings)

    (letter,) = store.dead_letters()
    assert letter["reason"] == "the worker died during the last try"
    assert messages(provider) == []
    await asyncio.sleep(0)


async def test_a_lost_response_is_retried_without_a_second_email(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    # The provider accepts the message, then drops the connection before answering.
    lost = {"lost_response_probability": 1.0}
    provider.post(
        "/control/timeline", json={"events": [{"at_s": 0, "duration_s": 0.3, "faults": lost}]}
    )
    await queue_login(settings, "r-lost", 5)
    patient = settings.model_copy(update={"max_tries": 20, "retry_base_s": 0.1})
    await drain(patient)

    outcomes = [e["outcome"] for e in await job_events(redis)]
    assert outcomes[-1] == "ok" and outcomes[0] == "retry"
    (sent,) = messages(provider, work_id="login:r-lost")
    assert sent["attempts"] == len(outcomes) >= 2  # every try reached it; one email was kept
    assert provider.get("/control/counters").json()["lost_responses"] >= 1


async def test_a_try_after_an_accepted_send_finds_the_sent_record_and_sends_nothing(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    await queue_login(settings, "r-twice", 5)
    await drain(settings)
    # The same work run again, as when a worker dies after the provider accepted and before
    # arq kept the result (another job id: arq refuses the first while it keeps its result).
    queue = await connect_queue("arq", settings)
    args = ("r-twice", dataset.registered_email(5), "http://t")
    await queue.enqueue(SEND_MAGIC_LINK, *args, job_id="again")
    await queue.close()
    await drain(settings)

    assert [e["outcome"] for e in await job_events(redis)] == ["ok", "already_sent"]
    assert len(messages(provider, work_id=login_work_id("r-twice"))) == 1


async def test_without_provider_idempotency_a_response_lost_before_the_record_is_two_emails(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    # The window the sent record cannot close: each try is accepted, but the job never hears so.
    lost = {"lost_response_probability": 1.0, "idempotency": False}
    provider.put("/control/faults", json=lost).raise_for_status()
    await queue_login(settings, "r-dup", 5)
    await drain(settings)

    outcomes = [e["outcome"] for e in await job_events(redis)]
    assert outcomes == ["retry"] * (settings.max_tries - 1) + ["dead_letter"]
    # Every try reached the provider, and each one it accepted is an email of its own.
    assert len(messages(provider, work_id=login_work_id("r-dup"))) == settings.max_tries
