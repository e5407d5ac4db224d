"""A paid order's steps, written once: the sync handler runs them now, the jobs enqueue them.

Pay the order, make each missing seat's ticket, and once the order has every ticket, email them
and mark them sent. `targets/sync.py` calls these in one request; `jobs/tasks.py` calls the same
ones from `process_payment`, `generate_ticket` (one job per seat) and `send_tickets`.
"""

from __future__ import annotations

from pathlib import Path

from core.contracts import order_work_id, tickets_key
from core.db import EventState, Order, Store
from core.email import Email
from core.magic_links import templates


def record_payment(store: Store, event_id: str, order_id: int, now: float) -> bool:
    """Record the event and mark its order paid; False when the event was already processed.

    A queue handler runs this as the change its `process_payment` job is owed for.
    """
    if store.record_event(event_id, order_id, now) is EventState.PROCESSED:
        return False
    store.mark_paid(order_id, now)
    return True


def pay(store: Store, order: Order, now: float) -> list[int]:
    """Mark the order paid; return the seats that still need a ticket."""
    store.mark_paid(order.id, now)
    done = store.ticket_seats(order.id)
    return [seat for seat in range(1, order.seats + 1) if seat not in done]


def record_ticket(store: Store, order_id: int, seat: int, path: Path, now: float) -> bool:
    """Store one seat's ticket; True when the order now has all of its tickets."""
    _, count = store.add_ticket(order_id, seat, str(path), now)
    order = store.order(order_id)
    return order is not None and count == order.seats


def tickets_email(store: Store, order_id: int, request_id: str) -> Email | None:
    """The email carrying the order's tickets; None when they were already sent."""
    order = store.order(order_id)
    if order is None or order.tickets_sent_at is not None:
        return None
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
        work_id=order_work_id(order.id),
        request_id=request_id,
        idempotency_key=tickets_key(order.id),
    )


def mark_sent(store: Store, order_id: int, now: float) -> None:
    store.mark_tickets_sent(order_id, now)
