"""Compare a run with a baseline run: regression, improvement, or within noise, per metric."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.gate.thresholds import METRICS, Check, MetricPath
from analysis.metrics.stats import bootstrap_ratio_ci


@dataclass(frozen=True)
class Rule:
    metric: str
    higher_is_better: bool
    # Changes smaller than this, in the metric's own unit, are noise whatever their ratio.
    min_abs: float
    relative: bool = True


RULES = [
    Rule("p50_ms", False, 1.0),
    Rule("p99_ms", False, 2.0),
    Rule("p99_corrected_ms", False, 2.0),
    Rule("throughput_rps", True, 1.0),
    Rule("error_rate", False, 0.01, relative=False),
    Rule("completion_p99_ms", False, 20.0),
]


def compare(
    current: dict[str, Any],
    baseline: dict[str, Any],
    *,
    min_effect: float,
    max_change: float,
    samples: int = 2000,
    seed: int = 0,
) -> list[Check]:
    """Over repetitions (both runs have 2+): a change counts when the bootstrap 95% CI of
    current / baseline excludes 1 and the change is at least `min_effect`. With one run each:
    when the change is at least `max_change`. Regressions fail; the rest pass."""
    before = {_key(r): r for r in baseline["results"]}
    checks = []
    for result in current["results"]:
        old = before.get(_key(result))
        if old is None:
            continue
        for rule in RULES:
            path = MetricPath(
                result["variant"], result["scenario"], result["endpoint"], rule.metric
            )
            now = METRICS[rule.metric](result, current)
            then = METRICS[rule.metric](old, baseline)
            if now is None or then is None:
                continue
            verdict, detail = classify(
                rule,
                now,
                then,
                _repeats(result, rule.metric),
                _repeats(old, rule.metric),
                min_effect=min_effect,
                max_change=max_change,
                samples=samples,
                seed=seed,
            )
            checks.append(
                Check(
                    f"{path} vs baseline",
                    f"baseline {rule.metric}",
                    now,
                    "fail" if verdict == "regression" else "pass",
                    f"{verdict}: {detail}",
                )
            )
    return checks


def classify(
    rule: Rule,
    now: float,
    then: float,
    now_repeats: np.ndarray[tuple[int], np.dtype[np.float64]],
    then_repeats: np.ndarray[tuple[int], np.dtype[np.float64]],
    *,
    min_effect: float,
    max_change: float,
    samples: int,
    seed: int,
) -> tuple[str, str]:
    diff = now - then
    if abs(diff) < rule.min_abs:
        return "within noise", f"{then:g} -> {now:g}"
    worse = diff < 0 if rule.higher_is_better else diff > 0
    change = diff / then if then else math.inf
    shown = f"{then:g} -> {now:g} ({change:+.0%})" if rule.relative else f"{then:g} -> {now:g}"
    if not rule.relative:
        return ("regression" if worse else "improvement"), shown
    if len(now_repeats) >= 2 and len(then_repeats) >= 2:
        ci = bootstrap_ratio_ci(
            now_repeats, then_repeats, samples=samples, confidence=0.95, seed=seed
        )
        real = ci is not None and (ci[0] > 1 or ci[1] < 1) and abs(change) >= min_effect
        if ci:
            shown += f", 95% CI of ratio {ci[0]:.2f}-{ci[1]:.2f}"
    else:
        real = abs(change) >= max_change
    if not real:
        return "within noise", shown
    return ("regression" if worse else "improvement"), shown


def _key(result: dict[str, Any]) -> tuple[str, str, str]:
    return (result["scenario"], result["variant"], result["endpoint"])


def _repeats(result: dict[str, Any], metric: str) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    rows = result.get("per_repeat")
    values = [r.get(metric) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return np.array(numbers, dtype=np.float64)
