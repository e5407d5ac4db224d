from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.db import EventState, Store


def test_seed_is_deterministic_and_replaces_what_was_there(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    a.seed(7, 100, 40, 60)
    a.record_event("evt_1", 1, 0.0)
    a.seed(7, 100, 40, 60)
    b.seed(7, 100, 40, 60)
    rows = "SELECT id, user_id, seats FROM orders ORDER BY id"
    assert a.conn.execute(rows).fetchall() == b.conn.execute(rows).fetchall()
    assert a.conn.execute("SELECT COUNT(*) FROM webhook_events").fetchone() == (0,)
    seats = [s for (_, _, s) in a.conn.execute(rows)]
    assert min(seats) >= 1 and max(seats) <= 60


def test_seed_command(tmp_path: Path) -> None:
    db = tmp_path / "cmd.db"
    env = {"DATABASE_PATH": str(db), "SEED_USERS": "30", "SEED_ORDERS": "10", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "core.db", "seed"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "seeded 30 users and 10 orders" in done.stderr
    assert Store(db).conn.execute("SELECT COUNT(*) FROM users").fetchone() == (30,)


def test_concurrent_writers_do_not_fail_with_database_locked(tmp_path: Path) -> None:
    store = Store(tmp_path / "busy.db")
    store.seed(1, 10, 200, 4)

    def pay(order_id: int) -> EventState:
        state = store.record_event(f"evt_{order_id}", order_id, 1.0)
        store.mark_paid(order_id, 1.0)
        store.add_ticket(order_id, 1, "x", 1.0)
        return state

    with ThreadPoolExecutor(16) as pool:
        states = list(pool.map(pay, range(1, 201)))
    assert states == [EventState.NEW] * 200
    assert store.conn.execute("SELECT COUNT(*) FROM tickets").fetchone() == (200,)


def test_only_one_insert_completes_an_order(tmp_path: Path) -> None:
    store = Store(tmp_path / "fan.db")
    store.seed(1, 10, 5, 30)
    order = store.order(1)
    assert order is not None

    def add(seat: int) -> tuple[bool, int]:
        return store.add_ticket(1, seat, f"seat-{seat}", 1.0)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, list(range(1, order.seats + 1)) * 2))
    completing = [r for r in results if r == (True, order.seats)]
    assert len(completing) == 1
