"""The store's guarantees, each checked against SQLite and against PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core import dataset
from core.db import EventState, LinkState, SqliteStore, Store
from core.db.postgres import PostgresStore

T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store: Store = SqliteStore(tmp_path / "bench.db")
    else:
        store = PostgresStore(request.getfixturevalue("postgres_url"), pool_size=16)
    store.seed(1, 10, 5, 30)
    yield store
    store.close()


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    if isinstance(store, SqliteStore):
        return store.conn.execute(sql).fetchall()
    assert isinstance(store, PostgresStore)
    with store.pool.connection() as conn:
        return conn.execute(sql).fetchall()


def race(calls: int, call: Callable[[int], T]) -> list[T]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(call, range(calls)))


def test_seed_is_deterministic_and_replaces_what_was_there(db: Store) -> None:
    db.seed(7, 100, 40, 60)
    db.record_event("evt_1", 1, 0.0)
    db.add_dead_letter("w", "j", "f", 1, "r")
    db.seed(7, 100, 40, 60)
    orders = rows(db, "SELECT id, user_id, seats FROM orders ORDER BY id")
    assert orders == [(o.id, o.user_id, o.seats) for o in dataset.orders(7, 40, 100, 60)]
    assert rows(db, "SELECT COUNT(*) FROM webhook_events") == [(0,)]
    assert db.dead_letters() == []
    db.create_schema()  # again: nothing is lost
    assert rows(db, "SELECT COUNT(*) FROM users") == [(100,)]


def test_seed_command(db: Store) -> None:
    if isinstance(db, SqliteStore):
        where = {"DATABASE_PATH": str(db.path)}
    else:
        assert isinstance(db, PostgresStore)
        where = {"DATABASE_URL": db.url}
    env = {**where, "SEED_USERS": "30", "SEED_ORDERS": "10", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "core.db", "seed"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "seeded 30 users and 10 orders" in done.stderr
    assert rows(db, "SELECT COUNT(*) FROM users") == [(30,)]


def test_users_are_found_by_address_in_any_case(db: Store) -> None:
    user = db.user_by_email(dataset.registered_email(3).upper())
    assert user is not None and user.id == 3 and db.user(3) == user
    assert db.user_by_email(dataset.unknown_email(3)) is None and db.user(10_000) is None


def test_a_magic_link_is_used_once(db: Store) -> None:
    db.add_magic_link("sel", "hash", 3, "req", expires_at=100.0)
    db.add_magic_link("old", "hash", 3, "req", expires_at=10.0)

    def right(stored: str) -> bool:
        return stored == "hash"

    assert db.consume_magic_link("sel", lambda stored: False, 50.0) == (LinkState.UNKNOWN, None)
    assert db.consume_magic_link("nope", right, 50.0) == (LinkState.UNKNOWN, None)
    assert db.consume_magic_link("old", right, 50.0) == (LinkState.EXPIRED, None)
    results = race(16, lambda _: db.consume_magic_link("sel", right, 50.0))
    assert sorted(results, key=str) == [(LinkState.OK, 3)] + [(LinkState.USED, None)] * 15


def test_an_event_is_new_once_then_pending_then_processed(db: Store) -> None:
    states = race(16, lambda _: db.record_event("evt_1", 1, 1.0))
    assert sorted(states, key=str) == [EventState.NEW] + [EventState.PENDING] * 15
    db.mark_event_processed("evt_1", 2.0)
    assert db.record_event("evt_1", 1, 3.0) is EventState.PROCESSED


def test_orders_keep_their_first_payment_and_sending(db: Store) -> None:
    db.mark_paid(2, 1.0)
    db.mark_paid(2, 2.0)
    db.mark_tickets_sent(2, 3.0)
    db.mark_tickets_sent(2, 4.0)
    order = db.order(2)
    assert order is not None and (order.paid_at, order.tickets_sent_at) == (1.0, 3.0)
    assert db.order(999) is None


def test_only_one_insert_completes_an_order(db: Store) -> None:
    db.seed(1, 10, 10, 12)
    orders = [order for i in range(1, 11) if (order := db.order(i)) is not None]
    # Every ticket of ten orders, each twice, all racing: ten chances for a lost count to show.
    calls = [(o.id, seat) for o in orders for seat in range(1, o.seats + 1)] * 2

    results = race(len(calls), lambda i: (calls[i][0], db.add_ticket(*calls[i], "t", 1.0)))
    for order in orders:
        mine = [result for order_id, result in results if order_id == order.id]
        assert mine.count((True, order.seats)) == 1, order
        assert sum(inserted for inserted, _ in mine) == order.seats
    assert db.ticket_seats(2) == set(range(1, orders[1].seats + 1))


def test_ticket_paths_are_in_seat_order(db: Store) -> None:
    for seat in (3, 1, 2):
        db.add_ticket(1, seat, f"s{seat}", 1.0)
    assert db.ticket_paths(1) == ["s1", "s2", "s3"] and db.ticket_seats(1) == {1, 2, 3}


def test_concurrent_writers_do_not_fail(db: Store) -> None:
    db.seed(1, 10, 200, 4)

    def pay(i: int) -> EventState:
        order_id = i + 1
        state = db.record_event(f"evt_{order_id}", order_id, 1.0)
        db.mark_paid(order_id, 1.0)
        db.add_ticket(order_id, 1, "x", 1.0)
        return state

    assert race(200, pay) == [EventState.NEW] * 200
    assert rows(db, "SELECT COUNT(*) FROM tickets") == [(200,)]


def test_an_email_sent_is_remembered_once(db: Store) -> None:
    assert not db.email_sent("login:a")
    race(20, lambda i: db.mark_email_sent("login:a", float(i)))
    assert db.email_sent("login:a") and not db.email_sent("login:b")
    assert rows(db, "SELECT COUNT(*) FROM emails_sent") == [(1,)]


def test_dead_letters_are_kept_in_order(db: Store) -> None:
    db.add_dead_letter("login:a", "job-a", "send_magic_link", 9, "provider 503")
    db.add_dead_letter("order:1", "job-b", "send_tickets", 9, "timeout")
    letters = db.dead_letters()
    assert [(d["work_id"], d["function"], d["tries"]) for d in letters] == [
        ("login:a", "send_magic_link", 9),
        ("order:1", "send_tickets", 9),
    ]
    assert all(isinstance(d["at"], float) and d["reason"] for d in letters)


def test_the_seed_command_needs_no_postgresql_when_no_url_is_set(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "x.db"), "SEED_USERS": "5", "SEED_ORDERS": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "core.db", "seed"],
        env={**env, "PATH": "", "DATABASE_URL": ""},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "file://" in done.stderr, done.stderr
    assert os.path.getsize(tmp_path / "x.db") > 0
