"""Shared fixtures: the embedded Redis (the harness's default), a seeded store, the provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from core.db import SqliteStore, Store
from core.postgres_server import PostgresNotFound, embedded_postgres, find_postgres_bin
from core.redis_server import embedded_redis
from core.settings import Settings
from provider.app import create_app as create_provider
from tests.support import serve


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    # The harness's default: a private redis-server, never the machine's shared one.
    with embedded_redis() as url:
        yield url


@pytest.fixture(scope="session")
def embedded_postgres_url() -> Iterator[str]:
    # The harness's own PostgreSQL, as for a variant whose queue lives in the database.
    try:
        find_postgres_bin()
    except PostgresNotFound as exc:
        pytest.skip(str(exc))
    with embedded_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def provider_url() -> Iterator[str]:
    with serve(create_provider(Settings())) as url:
        yield url


@pytest.fixture
def provider(provider_url: str) -> Iterator[httpx.Client]:
    """A client for the provider's control API, reset before each test."""
    with httpx.Client(base_url=provider_url, timeout=5) as client:
        client.post("/control/reset", json={"seed": 1}).raise_for_status()
        yield client


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, provider_url: str) -> Settings:
    # Every test starts with an empty queue: arq refuses a job id whose result it still keeps.
    with SyncRedis.from_url(redis_url) as client:
        client.flushdb()
    return Settings(
        redis_url=redis_url,
        database_path=tmp_path / "bench.db",
        database_url=None,  # the embedded SQLite, whatever the environment says
        tickets_dir=tmp_path / "tickets",
        provider_url=provider_url,
        provider_read_timeout_s=1.0,
        seed_users=50,
        seed_orders=20,
        max_seats=6,
        ticket_work_s=0.01,
        ticket_timeout_s=2.0,
        ticket_job_timeout_s=4.0,
        email_job_timeout_s=5.0,
        sync_retry_delay_s=0.01,
        retry_base_s=0.05,
        retry_cap_s=0.2,
        poll_delay_s=0.02,
        max_tries=3,
    )


@pytest.fixture
def store(settings: Settings) -> Store:
    store: Store = SqliteStore(settings.database_path)
    store.seed(settings.seed, settings.seed_users, settings.seed_orders, settings.max_seats)
    return store


@pytest.fixture
async def redis(settings: Settings, redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
