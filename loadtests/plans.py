"""What each arrival slot asks for, as pure functions of the seed and the slot number.

The choice of address or order depends only on (seed, slot), so both variants get the same
request sequence; request ids also depend on scenario, variant and repeat, so no two runs reuse an
id (arq refuses a job id whose result it still keeps).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from core.dataset import registered_email, unknown_email


class RequestIds:
    """Deterministic ids shaped like the targets' own (32 hex digits)."""

    def __init__(self, seed: int, scenario: str, variant: str, repeat: int) -> None:
        self._base = hashlib.blake2b(
            f"{seed}/{scenario}/{variant}/{repeat}/".encode(), digest_size=16
        )

    def for_slot(self, slot: int, suffix: str = "") -> str:
        h = self._base.copy()
        h.update(f"{slot}{suffix}".encode())
        return h.hexdigest()


@dataclass(frozen=True)
class LoginChoice:
    email: str
    registered: bool
    follow: bool


def login_choice(
    seed: int, slot: int, registered_share: float, follow_share: float, seed_users: int
) -> LoginChoice:
    rng = random.Random(f"login/{seed}/{slot}")
    registered = rng.random() < registered_share
    i = rng.randrange(seed_users)
    follow = registered and rng.random() < follow_share
    return LoginChoice(registered_email(i) if registered else unknown_email(i), registered, follow)


_TOKEN = re.compile(r"token=([^\s&\"'<>)\]]+)")


def magic_link_token(captured: Any) -> str | None:
    """The token of the first link in the provider's capture answer ({"messages": [...]})."""
    messages = captured.get("messages", []) if isinstance(captured, dict) else captured
    for message in messages if isinstance(messages, list) else []:
        text = message.get("text", "") if isinstance(message, dict) else ""
        if found := _TOKEN.search(str(text)):
            return found.group(1)
    return None


# Two event types pay an order; the targets handle both and must email its tickets once.
CHECKOUT = "checkout.session.completed"
INTENT = "payment_intent.succeeded"
OTHER = {CHECKOUT: INTENT, INTENT: CHECKOUT}
# Of the orders paid twice, the share whose payment_intent event arrives before the checkout one.
OUT_OF_ORDER_SHARE = 0.5


def event_id(seed: int, order_id: int, event_type: str = CHECKOUT) -> str:
    suffix = "" if event_type == CHECKOUT else "_pi"
    return f"evt_{seed}_{order_id}{suffix}"


def payment_event_body(event: str, order_id: int, event_type: str = CHECKOUT) -> bytes:
    """A Stripe-shaped event; the same event always gives the same bytes (so redeliveries match)."""
    doc = {
        "id": event,
        "type": event_type,
        "data": {"object": {"metadata": {"order_id": str(order_id)}}},
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Payment:
    order_id: int
    redelivery: bool
    event_type: str = CHECKOUT
    second: bool = False  # the other event type paying an order already paid


class WebhookPlan:
    """Global slot s either pays the next unpaid order (offset+1, offset+2, ...) or, with
    probability redelivery_share, redelivers the first event of an order paid at an earlier slot.

    With second_event_share, that share of orders is also paid by a second event of the other
    type, sent at a later slot (the oldest owed first); for OUT_OF_ORDER_SHARE of them the
    payment_intent event comes first. Walks every global slot in order, so each worker agrees
    on the sequence; ask in rising order."""

    def __init__(
        self,
        seed: int,
        redelivery_share: float,
        order_offset: int,
        second_event_share: float = 0.0,
    ) -> None:
        self.seed = seed
        self.redelivery_share = redelivery_share
        self.order_offset = order_offset
        self.second_event_share = second_event_share
        self._next_slot = 0
        self._paid = 0
        self._first_type: dict[int, str] = {}  # orders whose first event is not a checkout
        self._owed: list[int] = []  # orders still owed their second event, oldest first
        self._last = Payment(order_offset + 1, False)

    def for_slot(self, slot: int) -> Payment:
        if slot < self._next_slot - 1:
            raise ValueError(f"slot {slot} asked after slot {self._next_slot - 1}")
        while self._next_slot <= slot:
            self._last = self._decide(self._next_slot)
            self._next_slot += 1
        return self._last

    def _decide(self, slot: int) -> Payment:
        rng = random.Random(f"webhook/{self.seed}/{slot}")
        if self._paid and rng.random() < self.redelivery_share:
            order = self.order_offset + 1 + rng.randrange(self._paid)
            return Payment(order, True, self._first_type.get(order, CHECKOUT))
        share = self.second_event_share
        if not share:
            self._paid += 1
            return Payment(self.order_offset + self._paid, False)
        if self._owed and rng.random() < share:
            order = self._owed.pop(0)
            return Payment(order, False, OTHER[self._first_type.get(order, CHECKOUT)], True)
        self._paid += 1
        order = self.order_offset + self._paid
        first = CHECKOUT
        if rng.random() < share:
            self._owed.append(order)
            if rng.random() < OUT_OF_ORDER_SHARE:
                first = self._first_type[order] = INTENT
        return Payment(order, False, first)
