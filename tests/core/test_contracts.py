"""Every id the parts produce parses back through `core.contracts`, so the joins hold."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from arq.jobs import Job
from redis.asyncio import Redis

from core import dataset, signatures
from core.contracts import (
    GENERATE_ORDER_TICKETS,
    JOB_FUNCTIONS,
    WORK_ENDPOINTS,
    WORK_ID_HEADER,
    order_work_id,
    work_endpoint,
    work_id_of_job,
)
from core.db import Store
from core.settings import Settings
from loadtests.plans import RequestIds, WebhookPlan, event_id, payment_event_body
from targets import queued, sync
from tests.support import drain, job_events, messages, serve


@pytest.mark.parametrize(
    ("function", "args", "work_id"),
    [
        ("send_magic_link", ("r1", "user1@example.com", "http://t/login/verify"), "login:r1"),
        ("process_payment", ("evt_1", 42, "r2"), "order:42"),
        ("generate_ticket", (42, 3, "r2"), "order:42"),
        ("send_tickets", (42, "r2"), "order:42"),
    ],
)
def test_each_job_maps_to_the_work_it_serves(
    function: str, args: tuple[Any, ...], work_id: str
) -> None:
    assert work_id_of_job(function, args) == work_id
    assert work_id_of_job(function, list(args)) == work_id


@pytest.mark.parametrize(("function", "args"), [("resize_video", (1,)), ("send_tickets", ())])
def test_an_unknown_job_has_no_work_id(function: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError, match="no work id"):
        work_id_of_job(function, args)


def load_test_requests(settings: Settings) -> tuple[str, int, bytes]:
    """A login's request id and a webhook's order and body, as the load tests make them."""
    request_id = RequestIds(settings.seed, "contracts", "any", 0).for_slot(0)
    payment = WebhookPlan(settings.seed, 0.0, order_offset=2).for_slot(0)
    body = payment_event_body(event_id(settings.seed, payment.order_id), payment.order_id)
    return request_id, payment.order_id, body


def send(url: str, settings: Settings, request_id: str, body: bytes) -> str:
    """Log in and pay; the login's work id, as its answer names it."""
    with httpx.Client(base_url=url, timeout=10) as client:
        login = client.post(
            "/login",
            json={"email": dataset.registered_email(1)},
            headers={"X-Request-ID": request_id},
        )
        assert login.status_code == 202
        headers = {
            "Content-Type": "application/json",
            signatures.HEADER: signatures.sign(settings.webhook_secret, body),
        }
        assert client.post("/webhooks/payment", content=body, headers=headers).status_code == 200
        return login.headers[WORK_ID_HEADER]


async def test_the_delegated_targets_jobs_serve_the_work_the_load_tests_recorded(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    request_id, order_id, body = load_test_requests(settings)
    with serve(queued.create_app(settings, "delegated")) as url:
        recorded = {send(url, settings, request_id, body), order_work_id(order_id)}
        assert {work_endpoint(w) for w in recorded} == set(WORK_ENDPOINTS)
        job_ids = [m.decode() for m in await redis.zrange(settings.queue_name, 0, -1)]
        infos = [await Job(j, redis, _queue_name=settings.queue_name).info() for j in job_ids]
        enqueued = {work_id_of_job(i.function, i.args) for i in infos if i is not None}
        assert len(infos) == 2 and enqueued == recorded
        await drain(settings)

    events = await job_events(redis)
    # The default design, fan-out: every job function but the monolithic designs' one.
    assert {e["function"] for e in events} == set(JOB_FUNCTIONS) - {GENERATE_ORDER_TICKETS}
    assert {e["work_id"] for e in events} == recorded
    assert {m["work_id"] for m in messages(provider)} == recorded


async def test_the_sync_targets_emails_carry_the_work_the_load_tests_recorded(
    settings: Settings, store: Store, provider: httpx.Client
) -> None:
    request_id, order_id, body = load_test_requests(settings)
    with serve(sync.create_app(settings)) as url:
        login = send(url, settings, request_id, body)
    delivered = {m["work_id"] for m in messages(provider)}
    assert delivered == {login, order_work_id(order_id)}
