"""The store shared by the targets and the workers: embedded SQLite, or PostgreSQL by URL."""

from __future__ import annotations

import sqlite3

from core.db.sqlite import SqliteStore
from core.db.store import DatabaseError, EventState, LinkState, Order, Store, User
from core.settings import Settings

__all__ = [
    "DatabaseError",
    "EventState",
    "LinkState",
    "Order",
    "SqliteStore",
    "Store",
    "User",
    "describe_database",
    "open_store",
    "pool_size",
    "unavailable_errors",
]


def pool_size(settings: Settings) -> int:
    """Connections one process may need: a sync target's threads, or a worker's jobs at once."""
    return max(settings.sync_threads, settings.worker_max_jobs)


def open_store(settings: Settings, checked: bool = False) -> Store:
    """The store DATABASE_URL names, else the SQLite file at DATABASE_PATH; schema created.

    `checked`: a PostgreSQL connection is tested before each use (see PostgresStore)."""
    if not settings.database_url:
        store: Store = SqliteStore(settings.database_path)
    else:
        from core.db.postgres import PostgresStore  # psycopg is loaded only where it is used

        try:
            store = PostgresStore(settings.database_url, pool_size(settings), checked=checked)
        except DatabaseError as exc:
            raise DatabaseError(f"DATABASE_URL: {exc}") from None
    store.create_schema()
    return store


def unavailable_errors() -> tuple[type[Exception], ...]:
    """What a store raises when its database does not answer: down, locked, out of connections."""
    import psycopg
    from psycopg_pool import PoolTimeout

    return (sqlite3.OperationalError, psycopg.OperationalError, PoolTimeout)


def describe_database(settings: Settings) -> dict[str, str]:
    """Which database a run used, for its metadata; a password in the URL is masked."""
    if not settings.database_url:
        return {"kind": "sqlite", "url": settings.database_path.resolve().as_uri()}
    from core.db.postgres import masked

    return {"kind": "postgresql", "url": masked(settings.database_url)}
