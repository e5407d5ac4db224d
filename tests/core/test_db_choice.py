"""open_store picks the database DATABASE_URL names; a bad URL is one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.db import DatabaseError, SqliteStore, describe_database, open_store, pool_size
from core.db.postgres import PostgresStore
from core.db.store import TABLES
from core.settings import Settings

BAD_URLS = {
    "mysql://root:secret@127.0.0.1/test": "is not a postgresql:// URL",
    "postgresql://postgres:secret@127.0.0.1:1/test": "cannot connect",
    "postgresql://postgres@127.0.0.1:notaport/test": "cannot connect",
}


def test_without_a_url_the_store_is_the_sqlite_file(tmp_path: Path) -> None:
    for url in (None, ""):
        settings = Settings(database_path=tmp_path / "a.db", database_url=url)
        store = open_store(settings)
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "a.db"
        assert describe_database(settings) == {
            "kind": "sqlite",
            "url": (tmp_path / "a.db").as_uri(),
        }


def test_a_url_opens_postgresql_with_a_pool_for_the_busiest_process(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, sync_threads=12, worker_max_jobs=30)
    store = open_store(settings)
    try:
        assert isinstance(store, PostgresStore)
        assert store.pool.max_size == pool_size(settings) == 30
        assert store.user(-1) is None  # the schema exists
    finally:
        store.close()
    assert describe_database(settings) == {"kind": "postgresql", "url": postgres_url}


def test_the_password_is_masked() -> None:
    settings = Settings(database_url="postgresql://bench:s3cret@db.local:5432/bench?password=x")
    assert describe_database(settings)["url"] == (
        "postgresql://bench:***@db.local:5432/bench?password=***"
    )


@pytest.mark.parametrize(("url", "says"), BAD_URLS.items())
def test_a_bad_url_is_one_line_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(DatabaseError) as raised:
        open_store(Settings(database_url=url))
    message = str(raised.value)
    assert message.startswith("DATABASE_URL: ") and says in message
    assert "\n" not in message and "secret" not in message


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_seed_command_reports_a_bad_url(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "core.db", "seed"],
        env={"DATABASE_URL": url, "PATH": ""},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: DATABASE_URL: ") and done.stderr.count("\n") == 1


def test_many_processes_can_create_the_schema_at_once(postgres_url: str) -> None:
    first = PostgresStore(postgres_url, pool_size=1)
    with first.pool.connection() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")
    first.close()
    stores = [PostgresStore(postgres_url, pool_size=1) for _ in range(6)]
    try:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda store: store.create_schema(), stores))
        assert stores[0].dead_letters() == []
    finally:
        for store in stores:
            store.close()
