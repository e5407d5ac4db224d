"""One stack of real servers per module: both targets and two fake providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fuzzing.harness import Stack, fuzz_settings, open_stack


@pytest.fixture(scope="module")
def stack(
    redis_url: str, provider_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    settings = fuzz_settings(redis_url, provider_url, tmp_path_factory.mktemp("fuzz"))
    with open_stack(settings) as opened:
        yield opened
