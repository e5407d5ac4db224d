"""Payment webhooks: the Stripe-shaped event every variant parses after checking its signature."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

PAID_EVENT_TYPES = {"checkout.session.completed", "payment_intent.succeeded"}


class EventError(ValueError):
    pass


@dataclass(frozen=True)
class PaymentEvent:
    id: str
    type: str
    order_id: int

    @property
    def pays(self) -> bool:
        """Only these types mean money arrived; others are acknowledged and left alone."""
        return self.type in PAID_EVENT_TYPES


MAX_ORDER_ID = 2**63 - 1  # SQLite's largest integer
_ORDER_ID = re.compile(r"[0-9]{1,19}")  # at most MAX_ORDER_ID's 19 digits


def parse_event(raw: bytes) -> PaymentEvent:
    """Parse a verified body; raise EventError saying what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise EventError("body is not valid JSON (or nests too deeply)") from exc
    if not isinstance(body, dict):
        raise EventError("event must be a JSON object")
    event_id, event_type = body.get("id"), body.get("type")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 255 or not _text(event_id):
        raise EventError("event.id must be a string of 1 to 255 characters")
    if not isinstance(event_type, str) or not _text(event_type):
        raise EventError("event.type must be a string")
    try:
        raw_order = body["data"]["object"]["metadata"]["order_id"]
    except (KeyError, TypeError) as exc:
        raise EventError("event.data.object.metadata.order_id is missing") from exc
    # Stripe metadata values are strings; int() would also take 7.0, true, "+15", "1_5", " 15 "
    # and non-ASCII digits, each of which would pay some order.
    if not isinstance(raw_order, str) or not _ORDER_ID.fullmatch(raw_order):
        raise EventError(
            'event.data.object.metadata.order_id must be a string of ASCII digits, like "15"'
        )
    order_id = int(raw_order)
    if not 1 <= order_id <= MAX_ORDER_ID:
        raise EventError(f"event.data.object.metadata.order_id must be in 1..{MAX_ORDER_ID}")
    return PaymentEvent(event_id, event_type, order_id)


def _text(value: str) -> bool:
    """False for strings JSON can carry but UTF-8 cannot, such as a lone surrogate."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
