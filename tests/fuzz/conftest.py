"""One stack of real servers per module: every variant's target and two fake providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.postgres_server import PostgresNotFound, find_postgres_bin
from fuzzing.harness import Stack, fuzz_settings, open_stack


@pytest.fixture(scope="module")
def stack(
    redis_url: str, provider_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    settings = fuzz_settings(redis_url, provider_url, tmp_path_factory.mktemp("fuzz"))
    try:
        find_postgres_bin()  # every variant is fuzzed: the database queue's needs PostgreSQL
    except PostgresNotFound as exc:
        pytest.skip(str(exc))
    with open_stack(settings) as opened:
        yield opened
