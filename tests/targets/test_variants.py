"""Every variant answers as the others do; `background` delivers, and loses what a kill cuts off."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from core import dataset, signatures
from core.contracts import (
    VARIANT_NAMES,
    WORK_ID_HEADER,
    order_work_id,
    variant,
)
from core.db import Store, open_store
from core.processes import stop
from core.redis_server import free_port
from core.settings import Settings
from queues import needs_database
from runner.commands import target_command
from targets import queued
from tests.support import job_events, messages, serve
from tests.targets.test_webhook import event_body

DEADLINE_S = 60.0
OUTAGE = {"errors": [{"status": 503, "probability": 1.0}]}
# What the client is told differs in one place, on purpose: the sync webhook has done the work
# when it answers, the others have only accepted it.
DONE_NOW = {"sync": {"status": "processed"}}


def factory(name: str) -> Callable[[Settings], FastAPI]:
    """The app a variant's data names, as uvicorn would import it."""
    module, attr = variant(name).app.split(":")
    create: Callable[[Settings], FastAPI] = getattr(importlib.import_module(module), attr)
    return create


@pytest.fixture
def targets(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, httpx.Client]]:
    """A real server per variant, each on its own copy of the same seeded database (the
    embedded PostgreSQL's, for a variant whose queue lives there)."""
    with ExitStack() as stack:
        clients = {}
        for name in VARIANT_NAMES:
            own = settings.model_copy(update={"database_path": tmp_path / f"{name}.db"})
            if needs_database([name]):
                url = request.getfixturevalue("embedded_postgres_url")
                own = own.model_copy(update={"database_url": url})
            open_store(own).seed(own.seed, own.seed_users, own.seed_orders, own.max_seats)
            url = stack.enter_context(serve(factory(name)(own)))
            clients[name] = stack.enter_context(httpx.Client(base_url=url, timeout=10))
        yield clients


def cases(settings: Settings) -> dict[str, dict[str, Any]]:
    def webhook(body: bytes, signature: str | None = None) -> dict[str, Any]:
        signature = signature or signatures.sign(settings.webhook_secret, body)
        headers = {"Content-Type": "application/json", signatures.HEADER: signature}
        return {"method": "POST", "url": "/webhooks/payment", "content": body, "headers": headers}

    def login(**request: Any) -> dict[str, Any]:
        return {"method": "POST", "url": "/login", **request}

    refund = event_body("evt_refund", 2).replace(b"checkout.session.completed", b"charge.refunded")
    return {
        "healthz": {"method": "GET", "url": "/healthz"},
        "noop": {"method": "GET", "url": "/noop"},
        "login registered": login(json={"email": dataset.registered_email(1)}),
        "login unknown": login(json={"email": dataset.unknown_email(1)}),
        "login not an address": login(json={"email": "not-an-address"}),
        "login no field": login(json={}),
        "login empty body": login(content=b"", headers={"Content-Type": "application/json"}),
        "login bad json": login(content=b"{", headers={"Content-Type": "application/json"}),
        "login form": login(data={"email": dataset.registered_email(2)}),
        "login too big": login(json={"email": "a" * 70_000 + "@example.com"}),
        "verify no token": {"method": "GET", "url": "/login/verify"},
        "verify bad token": {"method": "GET", "url": "/login/verify", "params": {"token": "x"}},
        "webhook bad signature": webhook(event_body("evt_sig", 2), "t=1,v1=00"),
        "webhook unknown order": webhook(event_body("evt_404", 99_999)),
        "webhook not json": webhook(b"nope"),
        "webhook not a payment": webhook(refund),
        "webhook paid": webhook(event_body("evt_paid", 3)),
        "get on post route": {"method": "GET", "url": "/login"},
        "no such route": {"method": "GET", "url": "/nowhere"},
    }


def answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    # A login names the work it promised with an id made for it alone.
    per_request = {"date", WORK_ID_HEADER.lower()}
    headers = {k: v for k, v in response.headers.items() if k not in per_request}
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body, headers


def test_every_variant_answers_every_route_as_the_others_do(
    settings: Settings, targets: dict[str, httpx.Client], provider: httpx.Client
) -> None:
    for case, request in cases(settings).items():
        headers = {"X-Request-ID": f"same-{case.replace(' ', '-')}", **request.get("headers", {})}
        answers = {
            name: answer(client.request(**{**request, "headers": headers}))
            for name, client in targets.items()
        }
        status, body, first_headers = answers["sync"]
        assert status < 500, (case, answers["sync"])
        for name, (got_status, got_body, got_headers) in answers.items():
            if case == "healthz":
                assert got_body == {**body, "variant": name}, (case, name)
                continue
            if case == "webhook paid":
                expected = DONE_NOW.get(name, {"status": "queued"})
                assert (got_status, got_body) == (200, expected), (case, name)
                continue
            assert (got_status, got_body) == (status, body), (case, name)
            assert got_headers == first_headers, (case, name)


async def until(condition: Callable[[], Awaitable[object]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await condition():
        assert loop.time() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def test_background_delivers_logins_and_tickets_on_a_healthy_provider(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    order = store.order(3)
    assert order is not None
    body = event_body("evt_bg", 3)
    signed = {
        "Content-Type": "application/json",
        signatures.HEADER: signatures.sign(settings.webhook_secret, body),
        "X-Request-ID": "bg-pay",
    }
    with (
        serve(queued.create_app(settings, "background")) as url,
        httpx.Client(base_url=url) as client,
    ):
        login = {"email": dataset.registered_email(1)}
        answer = client.post("/login", json=login, headers={"X-Request-ID": "bg-1"})
        assert answer.status_code == 202
        login_work = answer.headers[WORK_ID_HEADER]
        assert client.post("/webhooks/payment", content=body, headers=signed).status_code == 200

        async def delivered() -> bool:
            work = (login_work, order_work_id(3))
            return all(messages(provider, work_id=w) for w in work)

        await until(delivered, "both emails")

    (link,) = messages(provider, work_id=login_work)
    (tickets,) = messages(provider, work_id=order_work_id(3))
    assert (link["kind"], link["attempts"], tickets["attempts"]) == ("magic_link", 1, 1)
    assert store.ticket_seats(3) == set(range(1, order.seats + 1))
    events = await job_events(redis)
    assert {(e["function"], e["outcome"]) for e in events} == {
        ("send_magic_link", "ok"),
        ("process_payment", "ok"),
        ("generate_ticket", "ok"),
        ("send_tickets", "ok"),
    }
    assert store.dead_letters() == []


def start_background_target(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The variant as the runner starts it: its own uvicorn process."""
    env = {
        **os.environ,
        "REDIS_URL": str(settings.redis_url),
        "DATABASE_PATH": str(settings.database_path),
        "TICKETS_DIR": str(settings.tickets_dir),
        "PROVIDER_URL": settings.provider_url,
        "RETRY_BASE_S": "20",  # the work waits in memory for its next try
        "LOG_LEVEL": "WARNING",
    }
    command = target_command(sys.executable, "background", "127.0.0.1", port, "warning")
    return subprocess.Popen(command, env=env)


async def test_a_killed_background_target_loses_its_pending_work_and_nobody_is_told(
    settings: Settings, store: Store, provider: httpx.Client, redis: Redis
) -> None:
    provider.put("/control/faults", json=OUTAGE).raise_for_status()
    port = free_port()
    target = start_background_target(settings, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(healthy, "the background target")
            login = {"email": dataset.registered_email(1)}
            answer = await client.post("/login", json=login, headers={"X-Request-ID": "bg-kill"})
            assert answer.status_code == 202  # promised

            async def retrying() -> bool:
                return any(e["outcome"] == "retry" for e in await job_events(redis))

            await until(retrying, "the first failed try")
        target.send_signal(signal.SIGKILL)
        assert target.wait(timeout=10) == -signal.SIGKILL
    finally:
        stop(target)
    provider.put("/control/faults", json={}).raise_for_status()

    # The provider is healthy again, and nothing anywhere holds the work: it is lost, silently.
    work_id = answer.headers[WORK_ID_HEADER]
    events = [e for e in await job_events(redis) if e["work_id"] == work_id]
    assert events and {e["outcome"] for e in events} == {"retry"}
    assert messages(provider, work_id=work_id) == []
    assert store.dead_letters() == []
