"""Payment webhooks: the Stripe-shaped event and the tickets email, shared by both variants."""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.db import Order, Store
from core.email import Email
from core.magic_links import templates

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
        order_id = int(raw_order)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise EventError("event.data.object.metadata.order_id must be an integer") from exc
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


def tickets_email(store: Store, order: Order, request_id: str) -> Email:
    user = store.user(order.user_id)
    if user is None:
        raise LookupError(f"order {order.id} has no user")
    names = [path.rsplit("/", 1)[-1] for path in store.ticket_paths(order.id)]
    context = {"name": user.name, "order_id": order.id, "tickets": names}
    return Email(
        to=user.email,
        subject=f"Your tickets for order {order.id}",
        text=templates.get_template("tickets.txt").render(context),
        html=templates.get_template("tickets.html").render(context),
        kind="tickets",
        work_id=f"order:{order.id}",
        request_id=request_id,
        idempotency_key=f"tickets:{order.id}",
    )
