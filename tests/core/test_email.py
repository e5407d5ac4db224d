from __future__ import annotations

import random

import httpx
import pytest

from core.email import Outcome, backoff_s, classify_error, classify_response, parse_retry_after


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (202, Outcome.ACCEPTED),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.PERMANENT),
        (401, Outcome.PERMANENT),
        (413, Outcome.PERMANENT),
    ],
)
def test_provider_answers_are_classified(status: int, outcome: Outcome) -> None:
    assert classify_response(httpx.Response(status)).outcome is outcome


def test_retry_after_is_read_from_seconds_and_dates() -> None:
    response = httpx.Response(429, headers={"Retry-After": "7"})
    assert classify_response(response).retry_after_s == 7
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None


def test_timeouts_and_connection_errors_are_retried() -> None:
    assert classify_error(httpx.ReadTimeout("slow")).outcome is Outcome.RETRY
    assert "timeout" in classify_error(httpx.ReadTimeout("slow")).detail
    assert classify_error(httpx.ConnectError("refused")).outcome is Outcome.RETRY


def test_backoff_is_capped_full_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    delays = [backoff_s(attempt, 1.0, 8.0, rng, None) for attempt in range(1, 200)]
    assert all(0 <= d <= 8.0 for d in delays)
    assert max(delays[6:]) > 4.0  # later attempts reach toward the cap
    firsts = [backoff_s(1, 1.0, 8.0, rng, None) for _ in range(200)]
    assert max(firsts) <= 1.0
    assert backoff_s(1, 1.0, 8.0, rng, retry_after_s=30) == 30
