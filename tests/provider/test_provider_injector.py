from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest
from pydantic import ValidationError

from provider.faults import ErrorFault, Faults, Latency, RateLimit, Timeline, TimelineEvent
from provider.injector import FaultInjector, TokenBucket, decide, latency_s

OUTAGE = Faults(errors=(ErrorFault(status=503, probability=1.0),))
SLOW = Faults(latency=Latency(kind="fixed", ms=800))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_spends_the_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(RateLimit(per_s=2, burst=3), now=0.0)
    spent = [bucket.quota(0.0, take=True) for _ in range(3)]
    assert [q.allowed for q in spent] == [True, True, True]
    assert [q.remaining for q in spent] == [2, 1, 0]

    denied = bucket.quota(0.0, take=True)
    assert not denied.allowed
    assert denied.retry_after_s == 1  # half a second to the next token, rounded up
    assert denied.reset_in_s == pytest.approx(1.5)

    assert bucket.quota(0.5, take=True).allowed
    assert not bucket.quota(0.5, take=True).allowed
    assert bucket.quota(100.0, take=False).remaining == 3  # never above the burst


def test_retry_after_counts_whole_seconds_to_the_next_token() -> None:
    bucket = TokenBucket(RateLimit(per_s=0.25, burst=1), now=0.0)
    assert bucket.quota(0.0, take=True).allowed
    assert bucket.quota(1.0, take=True).retry_after_s == 3


def test_a_changed_rate_limit_starts_with_a_full_bucket() -> None:
    clock = FakeClock()
    injector = FaultInjector(seed=1, clock=clock)
    tight = Faults(rate_limit=RateLimit(per_s=1, burst=1))
    assert injector.quota(tight, take=True).allowed
    assert not injector.quota(tight, take=True).allowed
    looser = Faults(rate_limit=RateLimit(per_s=1, burst=2))
    assert injector.quota(looser, take=True).allowed
    assert injector.quota(Faults(), take=True).allowed


def test_timeline_windows_replace_the_base_and_later_events_win() -> None:
    clock = FakeClock()
    injector = FaultInjector(seed=1, clock=clock)
    injector.base = SLOW
    injector.set_timeline(
        Timeline(
            events=(
                TimelineEvent(at_s=10, duration_s=20, faults=OUTAGE, label="outage"),
                TimelineEvent(at_s=15, duration_s=5, faults=Faults(), label="calm"),
            )
        )
    )
    seen = {}
    for offset in (0, 9.99, 10, 14.99, 15, 19.99, 20, 29.99, 30):
        clock.now = 1000.0 + offset
        seen[offset] = injector.active()
    assert seen[0] == (SLOW, None)
    assert seen[9.99] == (SLOW, None)
    assert seen[10] == (OUTAGE, "outage")
    assert seen[14.99] == (OUTAGE, "outage")
    assert seen[15] == (Faults(), "calm")
    assert seen[19.99] == (Faults(), "calm")
    assert seen[20] == (OUTAGE, "outage")
    assert seen[29.99] == (OUTAGE, "outage")
    assert seen[30] == (SLOW, None)


def test_timeline_times_count_from_when_it_is_set() -> None:
    clock = FakeClock()
    injector = FaultInjector(seed=1, clock=clock)
    clock.now = 5000.0
    injector.set_timeline(Timeline(events=(TimelineEvent(at_s=1, duration_s=1, faults=OUTAGE),)))
    clock.now = 5001.5
    assert injector.active()[0] == OUTAGE


def test_outcome_probabilities_hold_over_many_draws() -> None:
    faults = Faults(
        hang_probability=0.1,
        reset_probability=0.2,
        errors=(ErrorFault(status=503, probability=0.3), ErrorFault(status=500, probability=0.1)),
        lost_response_probability=0.25,
    )
    rng = random.Random(42)
    n = 20_000
    decisions = [decide(faults, rng) for _ in range(n)]
    outcomes: Counter[str | int] = Counter(
        d.outcome if d.error is None else d.error.status for d in decisions
    )
    expected: dict[str | int, float] = {"hang": 0.1, "reset": 0.2, 503: 0.3, 500: 0.1, "ok": 0.3}
    for outcome, share in expected.items():
        assert outcomes[outcome] / n == pytest.approx(share, abs=0.015)
    assert sum(d.lose_response for d in decisions) / n == pytest.approx(0.25, abs=0.015)


def test_a_seed_gives_the_same_decisions() -> None:
    faults = Faults(
        errors=(ErrorFault(status=503, probability=0.5),),
        latency=Latency(kind="lognormal", median_ms=150, sigma=0.5),
    )
    rng_a, rng_b = random.Random(3), random.Random(3)
    first = [decide(faults, rng_a) for _ in range(50)]
    assert first == [decide(faults, rng_b) for _ in range(50)]
    assert {d.outcome for d in first} == {"ok", "error"}


def test_lognormal_latency_has_the_configured_median() -> None:
    latency = Latency(kind="lognormal", median_ms=150, sigma=0.8)
    rng = random.Random(5)
    samples = [latency_s(latency, rng.random()) for _ in range(20_000)]
    assert statistics.median(samples) == pytest.approx(0.150, rel=0.05)
    assert max(samples) > 0.150 * 5  # a long tail


def test_fixed_uniform_and_no_latency() -> None:
    assert latency_s(Latency(kind="fixed", ms=250), 0.9) == pytest.approx(0.25)
    uniform = Latency(kind="uniform", min_ms=100, max_ms=300)
    assert latency_s(uniform, 0.0) == pytest.approx(0.1)
    assert latency_s(uniform, 0.5) == pytest.approx(0.2)
    assert latency_s(Latency(), 0.5) == 0.0


def test_latency_is_capped() -> None:
    huge = Latency(kind="lognormal", median_ms=100_000, sigma=5)
    assert latency_s(huge, 0.999999) == 120.0


@pytest.mark.parametrize(
    "data",
    [
        {"hang_probability": 0.6, "reset_probability": 0.6},
        {"errors": [{"status": 503, "probability": 0.8}], "hang_probability": 0.3},
        {"latency": {"kind": "uniform", "min_ms": 10, "max_ms": 5}},
        {"errors": [{"status": 200, "probability": 0.1}]},
        {"latency": {"kind": "gamma"}},
        {"hang_probabilty": 0.1},
        {"rate_limit": {"per_s": 0, "burst": 1}},
    ],
)
def test_impossible_fault_models_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Faults.model_validate(data)
