"""What every store offers the targets and the workers, whichever database is behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from core import dataset

# Children first, so each can be dropped before the table it references.
TABLES = (
    "tickets",
    "magic_links",
    "emails_sent",
    "webhook_events",
    "dead_letters",
    "orders",
    "users",
)


class DatabaseError(Exception):
    """The configured database cannot be used; the message is one line naming the setting."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    seats: int
    paid_at: float | None
    tickets_sent_at: float | None


class EventState(Enum):
    NEW = "new"
    PENDING = "pending"  # seen before, its work not finished yet
    PROCESSED = "processed"


class LinkState(Enum):
    OK = "ok"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


def link_state(
    row: tuple[str, int, float, float | None] | None, matches: Callable[[str], bool], now: float
) -> LinkState:
    """Judge a stored link (verifier_hash, user_id, expires_at, used_at) presented at `now`."""
    if row is None or not matches(row[0]):
        return LinkState.UNKNOWN
    _, _, expires_at, used_at = row
    if used_at is not None:
        return LinkState.USED
    return LinkState.EXPIRED if expires_at <= now else LinkState.OK


def event_state(processed_at: float | None) -> EventState:
    """The state of an event that was already recorded."""
    return EventState.PENDING if processed_at is None else EventState.PROCESSED


def seed_rows(
    seed: int, n_users: int, n_orders: int, max_seats: int
) -> tuple[list[tuple[int, str, str]], list[tuple[int, int, int]]]:
    """The users (id, email, name) and orders (id, user_id, seats) of the data set for `seed`."""
    users = [(i, dataset.registered_email(i), f"User {i}") for i in range(n_users)]
    orders = [
        (o.id, o.user_id, o.seats) for o in dataset.orders(seed, n_orders, n_users, max_seats)
    ]
    return users, orders


class Store(Protocol):
    """Safe to share between threads; every method is its own transaction."""

    def create_schema(self) -> None:
        """Create the tables that are missing; safe to run from many processes at once."""
        ...

    def seed(self, seed: int, n_users: int, n_orders: int, max_seats: int) -> None:
        """Replace every table with the deterministic data set for `seed`."""
        ...

    def close(self) -> None: ...

    def user_by_email(self, email: str) -> User | None: ...

    def user(self, user_id: int) -> User | None: ...

    def add_magic_link(
        self, selector: str, verifier_hash: str, user_id: int, request_id: str, expires_at: float
    ) -> None: ...

    def consume_magic_link(
        self, selector: str, matches: Callable[[str], bool], now: float
    ) -> tuple[LinkState, int | None]:
        """Use the link once; `matches` compares the stored verifier hash in constant time."""
        ...

    def order(self, order_id: int) -> Order | None: ...

    def record_event(self, event_id: str, order_id: int, now: float) -> EventState:
        """NEW for exactly one of any number of concurrent calls with one event id."""
        ...

    def mark_event_processed(self, event_id: str, now: float) -> None: ...

    def mark_paid(self, order_id: int, now: float) -> None: ...

    def ticket_seats(self, order_id: int) -> set[int]: ...

    def add_ticket(self, order_id: int, seat: int, path: str, now: float) -> tuple[bool, int]:
        """Store a ticket; return (inserted by this call, tickets the order now has).

        The insert and the count are atomic together, so exactly one caller sees its own
        insert bring the count to the number of seats.
        """
        ...

    def ticket_paths(self, order_id: int) -> list[str]: ...

    def mark_tickets_sent(self, order_id: int, now: float) -> None: ...

    def email_sent(self, work_id: str) -> bool:
        """Whether `mark_email_sent` ran for this work: a job checks before it sends again."""
        ...

    def mark_email_sent(self, work_id: str, now: float) -> None:
        """Record, right after the provider accepted it, that this work's email went out."""
        ...

    def add_dead_letter(
        self, work_id: str, job_id: str, function: str, tries: int, reason: str
    ) -> None:
        """The record arq does not keep of a job that used its last try."""
        ...

    def dead_letters(self) -> list[dict[str, object]]: ...
