"""The vocabulary of a run (variants, scenarios, endpoints) and the analysis settings."""

from __future__ import annotations

from dataclasses import dataclass

from core.contracts import ENDPOINTS, RUN_KEY, VARIANT_NAMES, WORK_ENDPOINTS
from core.scenarios import SCENARIO_NAMES

VARIANTS = VARIANT_NAMES
SCENARIOS = SCENARIO_NAMES
__all__ = ["ENDPOINTS", "SCENARIOS", "VARIANTS", "WORK_ENDPOINTS"]

GROUP = ["scenario", "variant", "endpoint"]
RUN = list(RUN_KEY)


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
