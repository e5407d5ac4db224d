from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from core import dataset
from core.db import Store
from core.settings import Settings
from targets.limits import RateLimiter
from tests.support import serve
from tests.targets.conftest import FACTORIES


def test_token_bucket_refills_at_its_rate() -> None:
    limiter = RateLimiter(per_minute=6)  # a token every 10 s
    assert [limiter.take("k", 0.0) for _ in range(6)] == [None] * 6
    assert limiter.take("k", 0.0) == pytest.approx(10.0)
    assert limiter.take("k", 5.0) == pytest.approx(5.0)
    assert limiter.take("k", 10.0) is None
    assert limiter.take("other", 10.0) is None
    assert RateLimiter(per_minute=0).take("k", 0.0) is None


@pytest.fixture
def limited(
    variant: str, settings: Settings, store: Store, provider: httpx.Client
) -> Iterator[httpx.Client]:
    # `provider` resets the shared provider: a fault an earlier test left would answer 503.
    strict = settings.model_copy(
        update={"login_per_address_per_min": 2, "login_per_client_per_min": 5}
    )
    with serve(FACTORIES[variant](strict)) as url, httpx.Client(base_url=url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("address", [dataset.registered_email(1), dataset.unknown_email(1)])
def test_each_address_is_limited_alike_whether_registered_or_not(
    limited: httpx.Client, address: str
) -> None:
    answers = [limited.post("/login", json={"email": address}) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert "too many sign-in requests" in answers[2].json()["detail"]


def test_each_client_is_limited_across_addresses(limited: httpx.Client) -> None:
    answers = [limited.post("/login", json={"email": dataset.unknown_email(i)}) for i in range(6)]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
