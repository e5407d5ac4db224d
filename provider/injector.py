"""Which faults apply to one request: timeline windows, a token bucket and seeded draws."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from provider.faults import ErrorFault, Faults, Latency, RateLimit, Timeline, TimelineEvent

# A lognormal tail is unbounded; one unlucky draw should not hold a connection for hours.
MAX_LATENCY_S = 120.0
# What the rate-limit headers say when no limit is set: plenty, so a pacing client never waits.
UNLIMITED = 1_000_000

Outcome = Literal["ok", "error", "hang", "reset"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    error: ErrorFault | None
    latency_s: float
    lose_response: bool


@dataclass(frozen=True)
class Quota:
    allowed: bool
    limit: int
    remaining: int
    reset_in_s: float
    retry_after_s: int


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    event: TimelineEvent


def latency_s(latency: Latency, u: float) -> float:
    """Turn one uniform draw into a delay, by inverse CDF so every request uses one draw."""
    if latency.kind == "fixed":
        ms = latency.ms
    elif latency.kind == "uniform":
        ms = latency.min_ms + u * (latency.max_ms - latency.min_ms)
    elif latency.kind == "lognormal":
        z = NormalDist().inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
        ms = latency.median_ms * math.exp(latency.sigma * z)
    else:
        ms = 0.0
    return min(ms / 1000, MAX_LATENCY_S)


def decide(faults: Faults, rng: random.Random) -> Decision:
    """Three draws per request, whatever the outcome, so a seed gives the same sequence."""
    u_outcome, u_lost, u_latency = rng.random(), rng.random(), rng.random()
    outcome: Outcome = "ok"
    error = None
    threshold = faults.hang_probability
    if u_outcome < threshold:
        outcome = "hang"
    elif u_outcome < (threshold := threshold + faults.reset_probability):
        outcome = "reset"
    else:
        for candidate in faults.errors:
            threshold += candidate.probability
            if u_outcome < threshold:
                outcome, error = "error", candidate
                break
    return Decision(
        outcome=outcome,
        error=error,
        latency_s=latency_s(faults.latency, u_latency),
        lose_response=u_lost < faults.lost_response_probability,
    )


class TokenBucket:
    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.limit.burst), self.tokens + elapsed * self.limit.per_s)
        self.updated = now

    def quota(self, now: float, take: bool) -> Quota:
        self._refill(now)
        allowed = self.tokens >= 1
        if allowed and take:
            self.tokens -= 1
        missing = max(0.0, 1 - self.tokens)
        return Quota(
            allowed=allowed,
            limit=self.limit.burst,
            remaining=math.floor(self.tokens),
            reset_in_s=(self.limit.burst - self.tokens) / self.limit.per_s,
            retry_after_s=math.ceil(missing / self.limit.per_s),
        )


def windows(timeline: Timeline, now: float) -> tuple[Window, ...]:
    """Absolute windows, ordered so that the last one covering an instant is the one that wins."""
    ordered = sorted(timeline.events, key=lambda event: event.at_s)
    return tuple(
        Window(now + event.at_s, now + event.at_s + event.duration_s, event) for event in ordered
    )


def active_window(schedule: tuple[Window, ...], now: float) -> Window | None:
    current = None
    for window in schedule:
        if window.start <= now < window.end:
            current = window
    return current


class FaultInjector:
    """The provider's fault state; `clock` is monotonic seconds and injectable for tests."""

    def __init__(self, seed: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reset(seed)

    def reset(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.base = Faults()
        self.timeline = Timeline()
        self.schedule: tuple[Window, ...] = ()
        self.timeline_set_at = self.clock()
        self.bucket: TokenBucket | None = None

    def set_timeline(self, timeline: Timeline) -> None:
        self.timeline_set_at = self.clock()
        self.timeline = timeline
        self.schedule = windows(timeline, self.timeline_set_at)

    def active(self) -> tuple[Faults, str | None]:
        window = active_window(self.schedule, self.clock())
        return (window.event.faults, window.event.label) if window else (self.base, None)

    def quota(self, faults: Faults, take: bool) -> Quota:
        """Check (and with `take`, spend) a token of the bucket of the faults in force."""
        if faults.rate_limit is None:
            return Quota(True, UNLIMITED, UNLIMITED, 0.0, 0)
        # A changed limit starts with a full bucket, as a provider's new plan would.
        if self.bucket is None or self.bucket.limit != faults.rate_limit:
            self.bucket = TokenBucket(faults.rate_limit, self.clock())
        return self.bucket.quota(self.clock(), take)

    def decide(self, faults: Faults) -> Decision:
        return decide(faults, self.rng)
