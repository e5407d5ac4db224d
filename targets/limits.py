"""Token buckets for sign-in requests, per address and per client, kept in the process."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests a minute for each key, with bursts of up to `per_minute`."""

    MAX_KEYS = 100_000  # beyond this, full buckets are forgotten: they carry no state

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60
        self.buckets: dict[str, Bucket] = {}

    def take(self, key: str, now: float) -> float | None:
        """Spend one token for `key`; None when allowed, else seconds until the next token."""
        if self.capacity <= 0:
            return None
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.MAX_KEYS:
                self.prune(now)
            bucket = self.buckets[key] = Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate_per_s

    def prune(self, now: float) -> None:
        refill_s = self.capacity / self.rate_per_s
        self.buckets = {k: b for k, b in self.buckets.items() if now - b.updated < refill_s}


class LoginLimits:
    """Applied before the user lookup, so registered and unknown addresses are limited alike."""

    def __init__(self, per_address_per_minute: int, per_client_per_minute: int) -> None:
        self.by_address = RateLimiter(per_address_per_minute)
        self.by_client = RateLimiter(per_client_per_minute)

    def retry_after_s(self, address: str, client: str, now: float) -> int | None:
        # Keys are hashed: the limiter's memory holds no address in the clear.
        key = hashlib.sha256(address.encode()).hexdigest()
        waits = [self.by_client.take(client, now), self.by_address.take(key, now)]
        longest = max((w for w in waits if w is not None), default=None)
        return None if longest is None else max(1, math.ceil(longest))
