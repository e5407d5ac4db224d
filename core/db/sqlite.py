"""The embedded store: one SQLite file in WAL mode, shared by the processes of one host."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.db.store import (
    TABLES,
    EventState,
    LinkState,
    Order,
    User,
    event_state,
    link_state,
    seed_rows,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    seats INTEGER NOT NULL,
    paid_at REAL,
    tickets_sent_at REAL
);
CREATE TABLE IF NOT EXISTS tickets (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    seat INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (order_id, seat)
);
CREATE TABLE IF NOT EXISTS magic_links (
    selector TEXT PRIMARY KEY,
    verifier_hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    request_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE TABLE IF NOT EXISTS emails_sent (
    work_id TEXT PRIMARY KEY,
    sent_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY,
    order_id INTEGER NOT NULL,
    received_at REAL NOT NULL,
    processed_at REAL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    work_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    function TEXT NOT NULL,
    tries INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class SqliteStore:
    """One connection per thread (the sync variant's pool, `asyncio.to_thread` in async code)."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None
            )
            # WAL lets readers run beside the one writer; the busy timeout queues writers
            # instead of failing with "database is locked" under load.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so its reads see the final state."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def create_schema(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn.executescript(SCHEMA)

    def seed(self, seed: int, n_users: int, n_orders: int, max_seats: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Dropping, not deleting, also brings a database made by an older version up to date.
        for table in TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        self.create_schema()
        users, orders = seed_rows(seed, n_users, n_orders, max_seats)
        with self.transaction() as conn:
            conn.executemany("INSERT INTO users (id, email, name) VALUES (?, ?, ?)", users)
            conn.executemany("INSERT INTO orders (id, user_id, seats) VALUES (?, ?, ?)", orders)

    def close(self) -> None:
        """Close this thread's connection; the others close with their threads."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # Users and magic links.

    def user_by_email(self, email: str) -> User | None:
        row = self.conn.execute(
            "SELECT id, email, name FROM users WHERE email = ?", (email.lower(),)
        ).fetchone()
        return User(*row) if row else None

    def user(self, user_id: int) -> User | None:
        row = self.conn.execute(
            "SELECT id, email, name FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return User(*row) if row else None

    def add_magic_link(
        self, selector: str, verifier_hash: str, user_id: int, request_id: str, expires_at: float
    ) -> None:
        self.conn.execute(
            "INSERT INTO magic_links (selector, verifier_hash, user_id, request_id, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (selector, verifier_hash, user_id, request_id, expires_at),
        )

    def consume_magic_link(
        self, selector: str, matches: Callable[[str], bool], now: float
    ) -> tuple[LinkState, int | None]:
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT verifier_hash, user_id, expires_at, used_at FROM magic_links"
                " WHERE selector = ?",
                (selector,),
            ).fetchone()
            state = link_state(row, matches, now)
            if state is not LinkState.OK:
                return state, None
            conn.execute("UPDATE magic_links SET used_at = ? WHERE selector = ?", (now, selector))
            return state, int(row[1])

    # Orders, webhook events and tickets.

    def order(self, order_id: int) -> Order | None:
        row = self.conn.execute(
            "SELECT id, user_id, seats, paid_at, tickets_sent_at FROM orders WHERE id = ?",
            (order_id,),
        ).fetchone()
        return Order(*row) if row else None

    def record_event(self, event_id: str, order_id: int, now: float) -> EventState:
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT processed_at FROM webhook_events WHERE id = ?", (event_id,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO webhook_events (id, order_id, received_at) VALUES (?, ?, ?)",
                    (event_id, order_id, now),
                )
                return EventState.NEW
            return event_state(row[0])

    def mark_event_processed(self, event_id: str, now: float) -> None:
        self.conn.execute(
            "UPDATE webhook_events SET processed_at = ? WHERE id = ? AND processed_at IS NULL",
            (now, event_id),
        )

    def mark_paid(self, order_id: int, now: float) -> None:
        self.conn.execute(
            "UPDATE orders SET paid_at = ? WHERE id = ? AND paid_at IS NULL", (now, order_id)
        )

    def ticket_seats(self, order_id: int) -> set[int]:
        rows = self.conn.execute("SELECT seat FROM tickets WHERE order_id = ?", (order_id,))
        return {int(seat) for (seat,) in rows}

    def add_ticket(self, order_id: int, seat: int, path: str, now: float) -> tuple[bool, int]:
        # The insert and the count share one write transaction.
        with self.transaction() as conn:
            inserted = conn.execute(
                "INSERT OR IGNORE INTO tickets (order_id, seat, path, created_at)"
                " VALUES (?, ?, ?, ?)",
                (order_id, seat, path, now),
            ).rowcount
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM tickets WHERE order_id = ?", (order_id,)
            ).fetchone()
        return inserted == 1, int(count)

    def ticket_paths(self, order_id: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT path FROM tickets WHERE order_id = ? ORDER BY seat", (order_id,)
        )
        return [str(path) for (path,) in rows]

    def mark_tickets_sent(self, order_id: int, now: float) -> None:
        self.conn.execute(
            "UPDATE orders SET tickets_sent_at = ? WHERE id = ? AND tickets_sent_at IS NULL",
            (now, order_id),
        )

    def email_sent(self, work_id: str) -> bool:
        found = self.conn.execute("SELECT 1 FROM emails_sent WHERE work_id = ?", (work_id,))
        return found.fetchone() is not None

    def mark_email_sent(self, work_id: str, now: float) -> None:
        self.conn.execute(
            "INSERT INTO emails_sent (work_id, sent_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (work_id, now),
        )

    # Dead letters.

    def add_dead_letter(
        self, work_id: str, job_id: str, function: str, tries: int, reason: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO dead_letters (work_id, job_id, function, tries, reason, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (work_id, job_id, function, tries, reason, time.time()),
        )

    def dead_letters(self) -> list[dict[str, object]]:
        cursor = self.conn.execute(
            "SELECT work_id, job_id, function, tries, reason, at FROM dead_letters ORDER BY id"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]
