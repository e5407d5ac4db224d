"""Every metric of a run as frames: one row per scenario x variant x endpoint, plus extras."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.enumeration import enumeration_table
from analysis.metrics.floor import bounded_by_harness, floor_table
from analysis.metrics.load import Run
from analysis.metrics.stats import bootstrap_ratio_ci, safe_ratio
from analysis.metrics.system import process_table, queue_table
from analysis.metrics.tickets import (
    order_table,
    stall_table,
    ticket_table,
    ticket_table_by_repeat,
)
from analysis.metrics.timing import (
    in_windows,
    is_success,
    latency_table,
    str_keys,
    traffic_table,
    trim_warmup,
    with_run_times,
)
from analysis.metrics.work import work_ledger, work_table
from analysis.names import COMPARED, GROUP, AnalysisSettings
from core.contracts import BASE_VARIANT, VARIANT_NAMES, WORK_ENDPOINTS
from core.scenarios import SCENARIO_NAMES


@dataclass(frozen=True)
class Metrics:
    requests: pd.DataFrame  # every request, with t0 / t_rel
    trimmed: pd.DataFrame  # warm-up removed: what latency metrics use
    results: pd.DataFrame
    per_repeat: pd.DataFrame
    ledger: pd.DataFrame
    queue: pd.DataFrame
    processes: pd.DataFrame
    enumeration: pd.DataFrame
    comparisons: pd.DataFrame
    floor: pd.DataFrame
    orders: pd.DataFrame  # each paid order's seats, payment -> tickets time and fate
    tickets: pd.DataFrame  # the ticket job's lesson per scenario x variant
    tickets_by_repeat: pd.DataFrame  # the same per repeat: their spread is the machine's timing
    stalls: pd.DataFrame  # per run: stalled seconds and their spans


def compute_metrics(run: Run, settings: AnalysisSettings) -> Metrics:
    requests = with_run_times(run.requests, run.runs)
    trimmed = trim_warmup(requests, settings.warmup_s)
    ledger = work_ledger(run.requests, run.deliveries, run.dead_letters, run.pending)
    results = _combine(requests, trimmed, ledger, run, settings, GROUP)
    per_repeat = _combine(requests, trimmed, ledger, run, settings, [*GROUP, "repeat"])
    fault = fault_table(requests[in_windows(requests, run.windows).to_numpy()])
    results = results.merge(fault, on=GROUP, how="left")
    floor = floor_table(run.floor, run.meta)
    orders = order_table(run.orders, ledger)
    stalls = stall_table(run.jobs, run.queue_samples)
    return Metrics(
        requests=requests,
        trimmed=trimmed,
        results=_in_scenario_order(results),
        per_repeat=per_repeat,
        ledger=ledger,
        queue=queue_table(run.queue_samples, run.runs),
        processes=process_table(run.process_samples),
        enumeration=enumeration_table(trimmed, settings.enumeration_tolerance),
        comparisons=comparisons_table(results, per_repeat, settings, floor),
        floor=floor,
        orders=orders,
        tickets=ticket_table(orders, run.jobs, stalls),
        tickets_by_repeat=ticket_table_by_repeat(orders, run.jobs, stalls),
        stalls=stalls,
    )


def _in_scenario_order(results: pd.DataFrame) -> pd.DataFrame:
    order = results["scenario"].map(lambda s: scenario_order(str(s)))
    keyed = results.assign(_order=order).sort_values(["_order", "variant", "endpoint"])
    return keyed.drop(columns="_order").reset_index(drop=True)


def _combine(
    requests: pd.DataFrame,
    trimmed: pd.DataFrame,
    ledger: pd.DataFrame,
    run: Run,
    settings: AnalysisSettings,
    keys: list[str],
) -> pd.DataFrame:
    traffic = traffic_table(requests, run.runs, keys)
    latency = latency_table(trimmed, keys, settings.late_threshold_ms)
    work = work_table(ledger, keys)
    return traffic.merge(latency, on=keys, how="left").merge(work, on=keys, how="left")


def fault_table(inside: pd.DataFrame) -> pd.DataFrame:
    """Requests intended to start inside a fault window: count, error rate, p50 and p99."""
    columns = [*GROUP, "fault_requests", "fault_error_rate", "fault_p50_ms", "fault_p99_ms"]
    if inside.empty:
        return pd.DataFrame(columns=columns).astype({c: "str" for c in GROUP})
    latency = latency_table(inside, GROUP, 0.0)
    failed = str_keys(
        inside[GROUP]
        .assign(failed=~is_success(inside).to_numpy())
        .groupby(GROUP, observed=True)["failed"]
        .mean()
        .reset_index()
    )
    out = latency.merge(failed, on=GROUP).rename(
        columns={
            "latency_requests": "fault_requests",
            "failed": "fault_error_rate",
            "p50_ms": "fault_p50_ms",
            "p99_ms": "fault_p99_ms",
        }
    )
    return out[columns]


# Latency metrics: a ratio of two of them may be bounded by the harness's floor.
LATENCIES = ("p50_ms", "p99_ms", "p99_corrected_ms")
COMPARISON_COLUMNS = [
    "scenario",
    "endpoint",
    "metric",
    "numerator",
    "denominator",
    "numerator_value",
    "denominator_value",
    "ratio",
    "ci_low",
    "ci_high",
    "bounded_by_harness",
]


def comparisons_table(
    results: pd.DataFrame,
    per_repeat: pd.DataFrame,
    settings: AnalysisSettings,
    floor: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The base variant / each other, per scenario, endpoint and metric, with a bootstrap CI
    over repeats, and whether the smaller latency is within reach of the harness's floor."""
    floors = {} if floor is None else dict(zip(floor["variant"], floor["p50_ms"], strict=True))
    rows = []
    pairs = results[["scenario", "endpoint"]].drop_duplicates().itertuples(index=False)
    for scenario, endpoint in pairs:
        mine = results[(results["scenario"] == scenario) & (results["endpoint"] == endpoint)]
        by_variant = mine.set_index("variant")
        if BASE_VARIANT not in by_variant.index:
            continue
        reps = per_repeat[
            (per_repeat["scenario"] == scenario) & (per_repeat["endpoint"] == endpoint)
        ]
        others = sorted(set(by_variant.index) - {BASE_VARIANT}, key=variant_order)
        for other, metric in ((o, m) for o in others for m in COMPARED):
            base, value = (_number(by_variant.at[v, metric]) for v in (BASE_VARIANT, other))
            ci = bootstrap_ratio_ci(
                _finite(reps.loc[reps["variant"] == BASE_VARIANT, metric]),
                _finite(reps.loc[reps["variant"] == other, metric]),
                samples=settings.bootstrap_samples,
                confidence=settings.confidence,
                seed=settings.seed,
            )
            bounded = None
            if metric in LATENCIES and base is not None and value is not None:
                smaller = BASE_VARIANT if base <= value else other
                bounded = bounded_by_harness(min(base, value), floors.get(smaller))
            ratio = safe_ratio(base, value)
            low, high = ci or (None, None)
            pair = [BASE_VARIANT, other, base, value]
            rows.append([scenario, endpoint, metric, *pair, ratio, low, high, bounded])
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def _number(value: object) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if np.isnan(number) else number


def _finite(values: pd.Series) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    array = values.to_numpy(dtype=np.float64)
    finite: np.ndarray[tuple[int], np.dtype[np.float64]] = array[np.isfinite(array)]
    return finite


def scenario_order(name: str) -> tuple[int, str]:
    known = SCENARIO_NAMES
    return (known.index(name) if name in known else len(known), name)


def variant_order(name: str) -> tuple[int, str]:
    """The variants' order in core.contracts (that of tables and colours); unknown ones last."""
    known = VARIANT_NAMES
    return (known.index(name) if name in known else len(known), name)


def primary_endpoint(requests: Mapping[str, int]) -> str:
    """The endpoint a scenario is about: the busiest one that promises work, else the busiest."""
    return min(requests, key=lambda e: (e not in WORK_ENDPOINTS, -requests[e]))


def primary_endpoints(results: pd.DataFrame) -> dict[str, str]:
    """primary_endpoint of each scenario, from the requests per endpoint of the results."""
    out: dict[str, str] = {}
    for scenario in sorted(results["scenario"].unique(), key=scenario_order):
        counts = results[results["scenario"] == scenario].groupby("endpoint")["requests"].sum()
        out[str(scenario)] = primary_endpoint({str(e): int(n) for e, n in counts.items()})
    return out
