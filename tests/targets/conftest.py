from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from core.db import Store
from core.settings import Settings
from targets import queued, sync
from tests.support import serve

FACTORIES = {"sync": sync.create_app, "delegated": queued.factory("delegated")}


@pytest.fixture(params=["sync", "delegated"])
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def target(variant: str, settings: Settings, store: Store) -> Iterator[httpx.Client]:
    """A client for a real uvicorn server running the variant under test."""
    with serve(FACTORIES[variant](settings)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c
