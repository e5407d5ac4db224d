"""A private PostgreSQL database for this test session, where a server can be reached."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

# A server with trust auth for `postgres` (as on this project's machines and CI); point
# TEST_POSTGRES_URL at another one. Its database is only used to create and drop ours.
SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database named after this process and dropped afterwards: runs never meet."""
    server = urlsplit(SERVER_URL)
    try:  # a quick look first: libpq's shortest connect timeout is 2 s
        socket.create_connection((server.hostname, server.port or 5432), timeout=1).close()
        admin = psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=2)
    except (OSError, psycopg.Error) as exc:
        reason = str(exc).strip().splitlines()[0]
        pytest.skip(f"no PostgreSQL at {SERVER_URL} ({reason}); set TEST_POSTGRES_URL")
    name = f"bench_test_{os.getpid()}"
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
        try:
            yield urlunsplit(server._replace(path=f"/{name}"))
        finally:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
