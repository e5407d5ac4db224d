"""The runner's tests start it as a subprocess with a private, small data set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def private_env(folder: Path) -> dict[str, str]:
    """A private data set and a small one; no REDIS_URL, so the runner starts its own Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_URL", "BENCH_"))}
    env.update(
        DATABASE_PATH=str(folder / "bench.db"),
        TICKETS_DIR=str(folder / "tickets"),
        SEED_USERS="200",
        SEED_ORDERS="200",
        POLL_DELAY_S="0.05",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def runner_env(tmp_path: Path) -> dict[str, str]:
    return private_env(tmp_path)
