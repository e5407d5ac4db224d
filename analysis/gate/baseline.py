"""Compare a run with a baseline run: regression, improvement, or within noise, per metric.

Each kind of figure gets the test that suits it: a rate of errors is a count of a count
(Fisher's exact test), a percentile of one run has a distribution-free interval from its
order statistics (the two runs differ only if the intervals do not overlap), and with
repetitions a bootstrap interval of the ratio decides. A percentile that rests on too few
values to be more than the maximum is skipped, with the reason. Every test also needs an
effect large enough to matter; a latency must also change by more than the harness's own
noise, twice its floor (GET /noop) p50, the band in which a figure is "bounded by the harness".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.gate.thresholds import METRICS, Check, MetricPath, unsupported
from analysis.metrics.floor import BOUNDED_FACTOR
from analysis.metrics.stats import bootstrap_ratio_ci, fisher_exact, poisson_rates

Interval = tuple[float | None, float | None]
# A rate changed by chance less often than this (two-sided) is a real change.
RATE_ALPHA = 0.01
# A run whose generator started more requests than this share late measured the machine
# (coordinated omission), not the target: its latencies are not compared.
LATE_LIMIT = 0.05


@dataclass(frozen=True)
class Rule:
    metric: str
    higher_is_better: bool
    # Changes smaller than this, in the metric's own unit, are noise whatever their ratio.
    min_abs: float
    relative: bool = True
    counted: bool = False  # a count per second: a test of two Poisson rates decides
    interval: tuple[str, ...] = ()  # where summary.json keeps its ~95% interval, if anywhere


RULES = [
    Rule("p50_ms", False, 1.0, interval=("latency_ms", "p50")),
    Rule("p99_ms", False, 2.0, interval=("latency_ms", "p99")),
    Rule("p99_corrected_ms", False, 2.0, interval=("latency_corrected_ms", "p99")),
    Rule("throughput_rps", True, 1.0, counted=True),
    Rule("error_rate", False, 0.01, relative=False),
    Rule("completion_p99_ms", False, 20.0, interval=("completion_ms", "p99")),
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
        noise_ms = _floor_noise_ms(result["variant"], current, baseline)
        for rule in RULES:
            path = MetricPath(
                result["variant"], result["scenario"], result["endpoint"], rule.metric
            )
            now = METRICS[rule.metric](result, current)
            then = METRICS[rule.metric](old, baseline)
            if now is None or then is None:
                continue
            thin = unsupported(rule.metric, result) or unsupported(rule.metric, old)
            thin = thin or (_behind(result, old) if rule.interval else None)
            if thin:
                checks.append(
                    Check(f"{path} vs baseline", f"baseline {rule.metric}", now, "skip", thin)
                )
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
                now_interval=_interval(result, rule),
                then_interval=_interval(old, rule),
                now_counts=_counts(result, rule),
                then_counts=_counts(old, rule),
                noise_ms=noise_ms if rule.metric.endswith("_ms") else None,
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
    now_interval: Interval | None = None,
    then_interval: Interval | None = None,
    now_counts: tuple[int, float] | None = None,
    then_counts: tuple[int, float] | None = None,
    noise_ms: float | None = None,
) -> tuple[str, str]:
    diff = now - then
    if abs(diff) < rule.min_abs:
        return "within noise", f"{then:g} -> {now:g}"
    if noise_ms is not None and abs(diff) < noise_ms:
        return "within noise", (
            f"{then:g} -> {now:g}, a change under {noise_ms:.3g} ms,"
            f" {BOUNDED_FACTOR:g}x the harness's floor p50"
        )
    worse = diff < 0 if rule.higher_is_better else diff > 0
    change = diff / then if then else math.inf
    shown = f"{then:g} -> {now:g} ({change:+.0%})" if rule.relative else f"{then:g} -> {now:g}"
    if not rule.relative:
        if now_counts and then_counts:
            (a, n), (b, m) = now_counts, then_counts
            p = fisher_exact(a, int(n), b, int(m))
            shown = f"{b} of {m:,.0f} -> {a} of {n:,.0f}, Fisher p = {p:.2g}"
            if p >= RATE_ALPHA:
                return "within noise", shown
        return ("regression" if worse else "improvement"), shown
    if len(now_repeats) >= 2 and len(then_repeats) >= 2:
        ci = bootstrap_ratio_ci(
            now_repeats, then_repeats, samples=samples, confidence=0.95, seed=seed
        )
        real = ci is not None and (ci[0] > 1 or ci[1] < 1) and abs(change) >= min_effect
        if ci:
            shown += f", 95% CI of ratio {ci[0]:.2f}-{ci[1]:.2f}"
    elif rule.counted and now_counts and then_counts:
        p = poisson_rates(now_counts[0], now_counts[1], then_counts[0], then_counts[1])
        shown += f", Poisson p = {p:.2g}"
        real = p < RATE_ALPHA and abs(change) >= max_change
    elif (
        rule.interval
        and now_interval
        and then_interval
        and not (_known(now_interval) and _known(then_interval))
    ):
        return "within noise", shown + ", too few values for an interval: cannot tell"
    elif now_interval and then_interval and _known(now_interval) and _known(then_interval):
        apart = _apart(now_interval, then_interval)
        real = apart and abs(change) >= max_change
        spans = " and ".join(f"{lo:g}-{hi:g}" for lo, hi in (then_interval, now_interval))
        shown += f", ~95% intervals {spans} {'apart' if apart else 'overlap'}"
    else:
        real = abs(change) >= max_change
    if not real:
        return "within noise", shown
    return ("regression" if worse else "improvement"), shown


def _floor_noise_ms(variant: str, *summaries: dict[str, Any]) -> float | None:
    """BOUNDED_FACTOR x the variant's floor p50, the larger of the runs'; None without a floor."""
    p50s = [
        f.get("p50_ms")
        for s in summaries
        if isinstance(f := (s.get("floor") or {}).get(variant), dict)
    ]
    known = [p for p in p50s if isinstance(p, int | float) and math.isfinite(p)]
    return BOUNDED_FACTOR * max(known) if known else None


def _behind(*results: dict[str, Any]) -> str | None:
    for result, which in zip(results, ("this run", "the baseline"), strict=False):
        late = result.get("late_start_rate")
        if isinstance(late, int | float) and late > LATE_LIMIT:
            return f"the generator started {late:.0%} of requests late in {which}"
    return None


def _known(interval: Interval) -> bool:
    return interval[0] is not None and interval[1] is not None


def _apart(a: Interval, b: Interval) -> bool:
    (a_low, a_high), (b_low, b_high) = a, b
    assert a_low is not None and a_high is not None and b_low is not None and b_high is not None
    return a_high < b_low or b_high < a_low


def _interval(result: dict[str, Any], rule: Rule) -> Interval | None:
    """The ~95% interval summary.json keeps for this figure; None in older summaries."""
    value: Any = result.get("interval_ms")
    for key in rule.interval:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, list) or len(value) != 2:
        return None
    low, high = (
        v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in value
    )
    return (low, high)


def _counts(result: dict[str, Any], rule: Rule) -> tuple[int, float] | None:
    """For an error rate (failed, requests); for a throughput (answered OK, seconds of load),
    from the rates and the count summary.json keeps."""
    rate, total = result.get("error_rate"), result.get("requests")
    if not isinstance(rate, int | float) or not isinstance(total, int) or total <= 0:
        return None
    if not rule.counted:
        return round(rate * total), total
    ok, per_second = round((1.0 - rate) * total), result.get("throughput_rps")
    if not isinstance(per_second, int | float) or per_second <= 0:
        return None
    return ok, ok / per_second


def _key(result: dict[str, Any]) -> tuple[str, str, str]:
    return (result["scenario"], result["variant"], result["endpoint"])


def _repeats(result: dict[str, Any], metric: str) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    rows = result.get("per_repeat")
    values = [r.get(metric) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return np.array(numbers, dtype=np.float64)
