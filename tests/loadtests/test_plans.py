from __future__ import annotations

import json
from collections import Counter

from core.signatures import sign, verify
from loadtests.plans import (
    RequestIds,
    WebhookPlan,
    event_id,
    login_choice,
    magic_link_token,
    payment_event_body,
)


def test_request_ids_are_unique_deterministic_and_per_run() -> None:
    ids = RequestIds(1, "steady", "sync", 0)
    batch = [ids.for_slot(s) for s in range(5000)]
    assert len(set(batch)) == 5000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in batch)
    assert batch[7] == RequestIds(1, "steady", "sync", 0).for_slot(7)
    assert batch[7] != RequestIds(1, "steady", "delegated", 0).for_slot(7)
    assert batch[7] != RequestIds(1, "steady", "sync", 1).for_slot(7)
    assert ids.for_slot(7, "/verify") not in batch


def test_login_mix_follows_the_shares_and_the_seed() -> None:
    choices = [login_choice(1, s, 0.8, 0.1, 100) for s in range(4000)]
    registered = [c for c in choices if c.registered]
    assert 0.77 < len(registered) / 4000 < 0.83
    assert all(c.email.endswith("@example.com") for c in registered)
    assert all(
        c.email.endswith("@example.net") and not c.follow for c in choices if not c.registered
    )
    assert 0.08 < sum(c.follow for c in registered) / len(registered) < 0.12
    assert {int(c.email[4:].split("@")[0]) for c in registered} <= set(range(100))
    assert choices == [login_choice(1, s, 0.8, 0.1, 100) for s in range(4000)]
    assert choices != [login_choice(2, s, 0.8, 0.1, 100) for s in range(4000)]


def test_webhook_slots_pay_each_order_once_and_redeliver_earlier_ones() -> None:
    plan = WebhookPlan(seed=1, redelivery_share=0.1, order_offset=100)
    payments = [plan.for_slot(s) for s in range(2000)]
    new = [p.order_id for p in payments if not p.redelivery]
    assert new == list(range(101, 101 + len(new)))
    assert 0.07 < (2000 - len(new)) / 2000 < 0.13
    paid: set[int] = set()
    for p in payments:
        assert (p.order_id in paid) == p.redelivery
        paid.add(p.order_id)


def test_workers_agree_on_the_webhook_sequence() -> None:
    whole = [WebhookPlan(3, 0.2, 0).for_slot(s) for s in range(300)]
    for index in range(3):
        plan = WebhookPlan(3, 0.2, 0)
        assert [plan.for_slot(s) for s in range(index, 300, 3)] == whole[index::3]
    repeated = WebhookPlan(3, 0.2, 0)
    assert repeated.for_slot(5) == repeated.for_slot(5)


def test_payment_event_is_stripe_shaped_and_signed() -> None:
    body = payment_event_body(event_id(1, 42), 42)
    assert json.loads(body) == {
        "id": "evt_1_42",
        "type": "checkout.session.completed",
        "data": {"object": {"metadata": {"order_id": "42"}}},
    }
    assert body == payment_event_body("evt_1_42", 42)  # a redelivery sends the same bytes
    header = sign("whsec_test", body, timestamp=1_700_000_000)
    assert verify(header, body, "whsec_test", now=1_700_000_010) == 1_700_000_000
    assert Counter(body.decode()) == Counter(body.decode("ascii"))


def test_the_magic_link_token_is_read_from_the_captured_email() -> None:
    text = "Sign in: http://127.0.0.1:8001/login/verify?token=AbC-12_x.%2B&x=1\nThanks"
    assert magic_link_token({"messages": [{"text": "no link"}, {"text": text}]}) == "AbC-12_x.%2B"
    assert magic_link_token({"messages": []}) is None
    assert magic_link_token([{"text": "<a href='/v?token=t0k'>"}]) == "t0k"
    assert magic_link_token({"detail": "bad"}) is None


def test_a_share_of_orders_is_paid_twice_by_the_other_event_sometimes_first() -> None:
    plan = WebhookPlan(seed=1, redelivery_share=0.3, order_offset=0, second_event_share=0.3)
    payments = [plan.for_slot(s) for s in range(3000)]
    seconds = [p for p in payments if p.second]
    firsts = {p.order_id: p.event_type for p in payments if not p.redelivery and not p.second}
    assert len(firsts) == len({p.order_id for p in payments})  # every order paid once first
    assert 0.2 < len(seconds) / len(firsts) < 0.4
    assert len({p.order_id for p in seconds}) == len(seconds)  # one second event per order
    for p in seconds:
        assert p.event_type != firsts[p.order_id]  # the other type, a different event id
        assert event_id(1, p.order_id, p.event_type) != event_id(1, p.order_id, firsts[p.order_id])
    out_of_order = [p for p in seconds if p.event_type == "checkout.session.completed"]
    assert 0.3 < len(out_of_order) / len(seconds) < 0.7  # payment_intent came first for these
    for p in payments:
        if p.redelivery:
            assert p.event_type == firsts[p.order_id]  # the first event, redelivered
    body = json.loads(payment_event_body("evt_x", 5, "payment_intent.succeeded"))
    assert body["type"] == "payment_intent.succeeded"


def test_without_second_events_the_sequence_is_unchanged() -> None:
    a = [WebhookPlan(3, 0.2, 0).for_slot(s) for s in range(300)]
    b = [WebhookPlan(3, 0.2, 0, second_event_share=0.0).for_slot(s) for s in range(300)]
    assert a == b and all(p.event_type == "checkout.session.completed" for p in a)
