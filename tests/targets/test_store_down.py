"""A database that is down gets the client a 503 with a JSON body, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path

import httpx
import pytest

from core import dataset
from core.db import open_store
from core.settings import Settings
from runner.stack import Stack, StackOptions
from targets import sync
from tests.support import serve


@pytest.fixture
def own_postgres(settings: Settings, tmp_path: Path, embedded_postgres_url: str) -> Iterator[Stack]:
    # embedded_postgres_url: skipped, saying why, where no PostgreSQL binaries are installed.
    with ExitStack() as exits:
        options = StackOptions(variants=("procrastinate",), log_dir=tmp_path / "logs")
        stack = Stack(settings.model_copy(update={"database_url": None}), options, exits)
        stack.start_database()
        store = exits.enter_context(closing(open_store(stack.settings)))
        s = stack.settings
        store.seed(s.seed, s.seed_users, s.seed_orders, s.max_seats)
        yield stack


def test_a_sync_login_while_the_database_is_down_is_a_503(own_postgres: Stack) -> None:
    login = {"email": dataset.registered_email(3)}
    with (
        serve(sync.create_app(own_postgres.settings)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.post("/login", json=login).status_code < 300
        own_postgres.kill_server("postgres")
        try:
            down = client.post("/login", json={"email": dataset.registered_email(4)})
        finally:
            own_postgres.launch_server("postgres")
        assert down.status_code == 503, down.text
        assert down.json()["detail"] == "the database is unavailable; try again later"
