"""The analysis's own vocabulary and settings; variants, scenarios and endpoints are in core."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.contracts import RUN_KEY

RUN = list(RUN_KEY)  # one run: a scenario x variant x repeat
GROUP = ["scenario", "variant", "endpoint"]  # one row of summary.json's results

# The work's fate, counted per group (analysis/metrics/work.py says what each means).
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
# Metrics kept per repeat: the bootstrap intervals of comparisons and baselines resample them.
COMPARED = (
    "p50_ms",
    "p99_ms",
    "p99_corrected_ms",
    "throughput_rps",
    "error_rate",
    "completion_p99_ms",
)


@dataclass(frozen=True)
class AnalysisSettings:
    warmup_s: float = 5.0
    late_threshold_ms: float = 10.0
    # |AUC - 0.5| below this means an attacker timing logins learns (almost) nothing.
    enumeration_tolerance: float = 0.1
    bootstrap_samples: int = 2000
    confidence: float = 0.95
    seed: int = 0


def settings_for(meta: dict[str, Any], **overrides: Any) -> AnalysisSettings:
    """Defaults, then the run's own settings (e.g. warmup_s in meta.json), then the flags."""
    recorded = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
    names = {f.name for f in dataclasses.fields(AnalysisSettings)}
    values = {k: v for k, v in (recorded or {}).items() if k in names and v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return AnalysisSettings(**values)
