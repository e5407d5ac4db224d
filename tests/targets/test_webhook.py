from __future__ import annotations

import json
import time

import httpx
import pytest

from core import signatures
from core.db import SqliteStore, Store
from core.settings import Settings
from tests.support import drain, messages


def event_body(event_id: str, order_id: int | str) -> bytes:
    event = {
        "id": event_id,
        "type": "checkout.session.completed",
        "data": {"object": {"metadata": {"order_id": str(order_id)}}},
    }
    return json.dumps(event).encode()


def post_event(
    target: httpx.Client, body: bytes, signature: str | None, request_id: str = "req-w"
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Request-ID": request_id}
    if signature is not None:
        headers[signatures.HEADER] = signature
    return target.post("/webhooks/payment", content=body, headers=headers)


def events_recorded(store: Store) -> int:
    assert isinstance(store, SqliteStore)  # the fixture's store: a raw count needs its SQL
    (count,) = store.conn.execute("SELECT COUNT(*) FROM webhook_events").fetchone()
    return int(count)


async def test_paid_order_gets_one_ticket_per_seat_and_one_email(
    variant: str, target: httpx.Client, provider: httpx.Client, settings: Settings, store: Store
) -> None:
    order = store.order(3)
    assert order is not None
    body = event_body("evt_1", 3)
    response = post_event(target, body, signatures.sign(settings.webhook_secret, body))
    assert response.status_code == 200
    assert response.json()["status"] == ("processed" if variant == "sync" else "queued")
    if variant == "delegated":
        await drain(settings)

    paid = store.order(3)
    assert paid is not None and paid.paid_at is not None and paid.tickets_sent_at is not None
    files = sorted((settings.tickets_dir / "order-3").iterdir())
    assert len(files) == order.seats
    assert files[0].read_text().startswith("TICKET order=3 seat=")
    (sent,) = messages(provider, work_id="order:3")
    assert sent["kind"] == "tickets"
    assert sent["attempts"] == 1
    assert sent["request_id"] == "req-w"


async def test_replayed_event_is_acknowledged_not_reprocessed(
    variant: str, target: httpx.Client, provider: httpx.Client, settings: Settings, store: Store
) -> None:
    body = event_body("evt_replay", 5)
    signature = signatures.sign(settings.webhook_secret, body)
    assert post_event(target, body, signature).status_code == 200
    if variant == "delegated":
        await drain(settings)
    again = post_event(target, body, signature, request_id="req-again")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    if variant == "delegated":
        await drain(settings)
    (sent,) = messages(provider, work_id="order:5")
    assert sent["attempts"] == 1


def test_several_v1_signatures_are_allowed(
    target: httpx.Client, settings: Settings, store: Store
) -> None:
    body = event_body("evt_roll", 2)
    t = int(time.time())
    good = signatures.compute(settings.webhook_secret, t, body)
    old = signatures.compute("whsec_old_secret", t, body)
    response = post_event(target, body, f"t={t},v1={old},v1={good}")
    assert response.status_code == 200


def _tampered(settings: Settings) -> tuple[bytes, str]:
    signature = signatures.sign(settings.webhook_secret, event_body("evt_bad", 4))
    return event_body("evt_bad", 5), signature


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("missing", "missing"),
        ("malformed", "malformed"),
        ("no-v1", "t= and at least one v1="),
        ("wrong-secret", "no v1 signature matches"),
        ("tampered", "no v1 signature matches"),
        ("stale", "tolerance"),
        ("far-future", "tolerance"),
    ],
)
def test_bad_signatures_are_refused_and_nothing_is_recorded(
    target: httpx.Client, settings: Settings, store: Store, case: str, says: str
) -> None:
    body = event_body("evt_bad", 4)
    now = int(time.time())
    signature: str | None = {
        "missing": None,
        "malformed": "garbage",
        "no-v1": f"t={now}",
        "wrong-secret": signatures.sign("whsec_wrong", body),
        "stale": signatures.sign(settings.webhook_secret, body, now - 301),
        "far-future": signatures.sign(settings.webhook_secret, body, now + 301),
        "tampered": "",
    }[case]
    if case == "tampered":
        body, signature = _tampered(settings)
    response = post_event(target, body, signature)
    assert response.status_code == 400
    assert says in response.json()["detail"]
    assert events_recorded(store) == 0
    paid = store.order(4)
    assert paid is not None and paid.paid_at is None


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (b'{"id": "evt_x", "type": "t"}', 400, "order_id"),
        (
            b'{"id": "evt_x", "type": "t", "data": {"object": {"metadata": {"order_id": "x"}}}}',
            400,
            "order_id",
        ),
        (
            b'{"id": "evt_x", "type": "checkout.session.completed",'
            b' "data": {"object": {"metadata": {"order_id": "999"}}}}',
            404,
            "unknown order",
        ),
    ],
)
def test_bad_events_get_a_clear_4xx(
    target: httpx.Client, settings: Settings, store: Store, body: bytes, status: int, says: str
) -> None:
    response = post_event(target, body, signatures.sign(settings.webhook_secret, body))
    assert response.status_code == status
    assert says in response.json()["detail"]
    assert events_recorded(store) == 0


def typed_event(event_id: str, event_type: str, order_id: int) -> bytes:
    event = json.loads(event_body(event_id, order_id))
    return json.dumps({**event, "type": event_type}).encode()


def test_events_that_do_not_pay_are_acknowledged_and_ignored(
    target: httpx.Client, settings: Settings, store: Store
) -> None:
    body = typed_event("evt_refund", "charge.refunded", 6)
    response = post_event(target, body, signatures.sign(settings.webhook_secret, body))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    order = store.order(6)
    assert order is not None and order.paid_at is None
    assert events_recorded(store) == 0


async def test_two_events_paying_one_order_out_of_order_send_one_email(
    variant: str, target: httpx.Client, provider: httpx.Client, settings: Settings, store: Store
) -> None:
    # The processor may send both, in either order, and redeliver either.
    bodies = [
        typed_event("evt_pi", "payment_intent.succeeded", 7),
        typed_event("evt_cs", "checkout.session.completed", 7),
        typed_event("evt_pi", "payment_intent.succeeded", 7),
    ]
    for body in bodies:
        response = post_event(target, body, signatures.sign(settings.webhook_secret, body))
        assert response.status_code == 200
        if variant == "delegated":
            await drain(settings)
    (sent,) = messages(provider, work_id="order:7")
    assert sent["attempts"] == 1
    order = store.order(7)
    assert order is not None
    assert len(list((settings.tickets_dir / "order-7").iterdir())) == order.seats


@pytest.mark.parametrize(
    "raw",
    ["true", "7.0", "15", '"7.0"', '"+15"', '"1_5"', '" 15 "', '"\\u0661\\u0665"', '"015x"'],
)
def test_an_order_id_that_is_not_a_plain_digit_string_is_refused(
    target: httpx.Client, settings: Settings, store: Store, raw: str
) -> None:
    # Stripe metadata values are strings: anything int() merely tolerates pays no order.
    body = (
        '{"id": "evt_loose", "type": "checkout.session.completed",'
        f' "data": {{"object": {{"metadata": {{"order_id": {raw}}}}}}}}}'
    ).encode()
    response = post_event(target, body, signatures.sign(settings.webhook_secret, body))
    assert response.status_code == 400
    assert "order_id must be a string of ASCII digits" in response.json()["detail"]
    assert events_recorded(store) == 0
    assert all(o is not None and o.paid_at is None for o in map(store.order, (1, 7, 15)))
