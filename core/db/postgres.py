"""The shared store: PostgreSQL, for targets and workers on hosts that cannot share a file."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.db.store import (
    TABLES,
    DatabaseError,
    EventState,
    LinkState,
    Order,
    User,
    event_state,
    link_state,
    seed_rows,
)

SCHEMES = ("postgresql", "postgres")

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
    paid_at DOUBLE PRECISION,
    tickets_sent_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS tickets (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    seat INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (order_id, seat)
);
CREATE TABLE IF NOT EXISTS magic_links (
    selector TEXT PRIMARY KEY,
    verifier_hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    request_id TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS emails_sent (
    work_id TEXT PRIMARY KEY,
    sent_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_events (
    id TEXT PRIMARY KEY,
    order_id INTEGER NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    processed_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    function TEXT NOT NULL,
    tries INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
"""

# CREATE TABLE IF NOT EXISTS is not safe against itself: two processes creating one table at
# once can fail on a catalog index. Every schema change takes this advisory lock first.
SCHEMA_LOCK = 0x_DE1E_6A7E


def masked(url: str) -> str:
    """The URL with its password, in the user part or the query, replaced by ***."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, True)]
    netloc = userinfo + at + hostport
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="*/")))


class OneConnection:
    """Stands in for the pool of a store bound to one connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def connection(self) -> nullcontext[psycopg.Connection[Any]]:
        return nullcontext(self.conn)


class PostgresStore:
    """A pool of autocommit connections; methods with more than one statement take a transaction.

    Checked (`checked`), each connection is tested as it is taken: for a process that must
    outlive a restart of the database (the runner, whose db-outage restarts it).
    """

    def __init__(
        self, url: str, pool_size: int, connect_timeout_s: int = 5, checked: bool = False
    ) -> None:
        if urlsplit(url).scheme not in SCHEMES:
            raise DatabaseError(f"{masked(url)!r} is not a postgresql:// URL")
        try:  # one connection first, so a bad URL fails now with the reason, not in the pool
            psycopg.connect(url, connect_timeout=connect_timeout_s).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0]
            raise DatabaseError(f"cannot connect to {masked(url)}: {reason}") from None
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": connect_timeout_s},
            # checked: a round trip before each use, so that a connection the server dropped
            # (a restart) is replaced instead of failing the next statement.
            check=ConnectionPool.check_connection if checked else None,
            open=True,
            name="store",
        )

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self) -> Iterator[tuple[PostgresStore, psycopg.Connection[Any]]]:
        """One transaction: a store whose every method runs in it (their own transactions become
        savepoints), and its connection, for a job queue in this database to write beside."""
        with self.pool.connection() as conn, conn.transaction():
            bound = object.__new__(PostgresStore)
            bound.url, bound.pool = self.url, OneConnection(conn)  # type: ignore[assignment]
            yield bound, conn

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: tuple[Any, ...]) -> None:
        with self.pool.connection() as conn:
            conn.execute(sql, params)

    def create_schema(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(SCHEMA)

    def seed(self, seed: int, n_users: int, n_orders: int, max_seats: int) -> None:
        users, orders = seed_rows(seed, n_users, n_orders, max_seats)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")
            conn.execute(SCHEMA)
            cursor = conn.cursor()
            with cursor.copy("COPY users (id, email, name) FROM STDIN") as copy:
                for user in users:
                    copy.write_row(user)
            with cursor.copy("COPY orders (id, user_id, seats) FROM STDIN") as copy:
                for order in orders:
                    copy.write_row(order)

    # Users and magic links.

    def user_by_email(self, email: str) -> User | None:
        row = self._one("SELECT id, email, name FROM users WHERE email = %s", (email.lower(),))
        return User(*row) if row else None

    def user(self, user_id: int) -> User | None:
        row = self._one("SELECT id, email, name FROM users WHERE id = %s", (user_id,))
        return User(*row) if row else None

    def add_magic_link(
        self, selector: str, verifier_hash: str, user_id: int, request_id: str, expires_at: float
    ) -> None:
        self._run(
            "INSERT INTO magic_links (selector, verifier_hash, user_id, request_id, expires_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (selector, verifier_hash, user_id, request_id, expires_at),
        )

    def consume_magic_link(
        self, selector: str, matches: Callable[[str], bool], now: float
    ) -> tuple[LinkState, int | None]:
        with self.pool.connection() as conn, conn.transaction():
            # The row lock makes a second consumer wait, then read the link as used.
            row = conn.execute(
                "SELECT verifier_hash, user_id, expires_at, used_at FROM magic_links"
                " WHERE selector = %s FOR UPDATE",
                (selector,),
            ).fetchone()
            state = link_state(row, matches, now)
            if row is None or state is not LinkState.OK:
                return state, None
            conn.execute("UPDATE magic_links SET used_at = %s WHERE selector = %s", (now, selector))
            return state, int(row[1])

    # Orders, webhook events and tickets.

    def order(self, order_id: int) -> Order | None:
        row = self._one(
            "SELECT id, user_id, seats, paid_at, tickets_sent_at FROM orders WHERE id = %s",
            (order_id,),
        )
        return Order(*row) if row else None

    def record_event(self, event_id: str, order_id: int, now: float) -> EventState:
        with self.pool.connection() as conn:
            # A concurrent insert of the same id waits for the first to commit, then does
            # nothing; the select that follows (a new snapshot) sees the committed row.
            inserted = conn.execute(
                "INSERT INTO webhook_events (id, order_id, received_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (event_id, order_id, now),
            ).rowcount
            if inserted == 1:
                return EventState.NEW
            row = conn.execute(
                "SELECT processed_at FROM webhook_events WHERE id = %s", (event_id,)
            ).fetchone()
            return event_state(row[0] if row else None)

    def mark_event_processed(self, event_id: str, now: float) -> None:
        self._run(
            "UPDATE webhook_events SET processed_at = %s WHERE id = %s AND processed_at IS NULL",
            (now, event_id),
        )

    def mark_paid(self, order_id: int, now: float) -> None:
        self._run(
            "UPDATE orders SET paid_at = %s WHERE id = %s AND paid_at IS NULL", (now, order_id)
        )

    def ticket_seats(self, order_id: int) -> set[int]:
        rows = self._all("SELECT seat FROM tickets WHERE order_id = %s", (order_id,))
        return {int(seat) for (seat,) in rows}

    def add_ticket(self, order_id: int, seat: int, path: str, now: float) -> tuple[bool, int]:
        with self.pool.connection() as conn, conn.transaction():
            # The order's row lock queues its inserts: each count sees every earlier commit.
            conn.execute("SELECT 1 FROM orders WHERE id = %s FOR UPDATE", (order_id,))
            inserted = conn.execute(
                "INSERT INTO tickets (order_id, seat, path, created_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (order_id, seat, path, now),
            ).rowcount
            row = conn.execute(
                "SELECT count(*) FROM tickets WHERE order_id = %s", (order_id,)
            ).fetchone()
        return inserted == 1, int(row[0]) if row else 0

    def ticket_paths(self, order_id: int) -> list[str]:
        rows = self._all("SELECT path FROM tickets WHERE order_id = %s ORDER BY seat", (order_id,))
        return [str(path) for (path,) in rows]

    def mark_tickets_sent(self, order_id: int, now: float) -> None:
        self._run(
            "UPDATE orders SET tickets_sent_at = %s WHERE id = %s AND tickets_sent_at IS NULL",
            (now, order_id),
        )

    def email_sent(self, work_id: str) -> bool:
        return self._one("SELECT 1 FROM emails_sent WHERE work_id = %s", (work_id,)) is not None

    def mark_email_sent(self, work_id: str, now: float) -> None:
        self._run(
            "INSERT INTO emails_sent (work_id, sent_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (work_id, now),
        )

    # Dead letters.

    def add_dead_letter(
        self, work_id: str, job_id: str, function: str, tries: int, reason: str
    ) -> None:
        self._run(
            "INSERT INTO dead_letters (work_id, job_id, function, tries, reason, at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (work_id, job_id, function, tries, reason, time.time()),
        )

    def dead_letters(self) -> list[dict[str, object]]:
        with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            return cursor.execute(
                "SELECT work_id, job_id, function, tries, reason, at FROM dead_letters ORDER BY id"
            ).fetchall()
