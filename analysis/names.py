"""The vocabulary of a run (variants, scenarios, endpoints) and the analysis settings."""

from __future__ import annotations

from dataclasses import dataclass

VARIANTS = ("sync", "delegated")
SCENARIOS = (
    "steady",
    "slow-provider",
    "outage",
    "rate-limited",
    "spike",
    "webhook-burst",
    "hung-ticket",
    "worker-crash",
    "lost-response",
    "redis-restart",
    "redis-restart-no-aof",
    "webhook-redelivery",
    "long-outage",
)
ENDPOINTS = ("login", "verify", "webhook", "noop")
# Endpoints that promise work to the client; the others have no work accounting.
WORK_ENDPOINTS = ("login", "webhook")
WORK_PREFIXES = {"login:": "login", "order:": "webhook"}

GROUP = ["scenario", "variant", "endpoint"]
RUN = ["scenario", "variant", "repeat"]


@dataclass(frozen=True)
class AnalysisSettings:
    warmup_s: float = 5.0
    late_threshold_ms: float = 10.0
    # |AUC - 0.5| below this means an attacker timing logins learns (almost) nothing.
    enumeration_tolerance: float = 0.1
    bootstrap_samples: int = 2000
    confidence: float = 0.95
    seed: int = 0


WORK_COUNTS = (
    "expected",
    "delivered",
    "pending",
    "lost",
    "duplicates",
    "duplicate_attempts",
    "dead_lettered",
    "unpromised",
)
