"""Capacity: what each step of a capacity run measured, from its raw rows (analysis/capacity.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.capacity import Slope, Step, behind, slope
from analysis.metrics.load import Run
from analysis.metrics.timing import is_success

STEP_SCENARIO = "capacity"  # the scenario name of every step's rows
HARNESS_SCENARIO = "harness-limit"  # GET /noop at rising rates, before the search
SAMPLE_S = 0.5  # the outstanding-work series' spacing, as the runner samples queues


@dataclass(frozen=True)
class Window:
    """Which part of a step counts: its warm-up and its last second (cut by the stop) do not."""

    warmup_s: float = 2.0
    tail_s: float = 1.0
    late_ms: float = 10.0


def _of(frame: pd.DataFrame, scenario: str, variant: str, repeat: int) -> pd.DataFrame:
    mine = (
        (frame["scenario"].astype("str") == scenario)
        & (frame["variant"].astype("str") == variant)
        & (frame["repeat"].astype("int64") == repeat)
    )
    return frame[mine.to_numpy()]


def load_times(run: Run, scenario: str, variant: str, repeat: int) -> tuple[float, float]:
    row = _of(run.runs, scenario, variant, repeat)
    if row.empty:
        raise LookupError(f"no {scenario} run of {variant}, repeat {repeat} in {run.path}")
    return float(row["t0"].iloc[0]), float(row["load_end"].iloc[0])


def measure_step(
    run: Run, variant: str, record: Mapping[str, Any], window: Window = Window()
) -> Step:
    """One step (meta.json's capacity.steps entry) as the search reads it."""
    repeat, rate = int(record["repeat"]), float(record["rate"])
    t0, end = load_times(run, STEP_SCENARIO, variant, repeat)
    lo, hi = t0 + window.warmup_s, end - window.tail_s
    rows = _of(run.requests, STEP_SCENARIO, variant, repeat)
    intended = rows["intended_start"].to_numpy()
    counted = rows[(intended >= lo) & (intended < hi)]
    latency_ms = (counted["end"] - counted["intended_start"]).to_numpy() * 1000.0
    late = (counted["start"] - counted["intended_start"]).to_numpy() * 1000.0 > window.late_ms
    n = len(counted)
    return Step(
        rate=rate,
        phase=str(record.get("phase", "ramp")),
        p99_ms=float(np.quantile(latency_ms, 0.99, method="inverted_cdf")) if n else None,
        error_rate=float(1 - is_success(counted).mean()) if n else 1.0,
        late_share=float(late.mean()) if n else 0.0,
        slope=backlog_slope(run, variant, repeat, (lo, end), rows),
        completion_p99_s=completion_p99_s(run, variant, repeat, (lo, hi), rows),
        requests=n,
        repeat=repeat,
    )


def backlog_slope(
    run: Run, variant: str, repeat: int, span: tuple[float, float], rows: pd.DataFrame
) -> Slope | None:
    """The queue's depth from the runner's samples; a variant without a queue, the work asked
    for and not yet done (its backlog sits in the target's process, or in its clients)."""
    samples = _of(run.queue_samples, STEP_SCENARIO, variant, repeat)
    samples = samples[(samples["t"] >= span[0]) & (samples["t"] <= span[1])]
    if not samples.empty:
        depth = samples[["ready", "deferred", "in_progress"]].fillna(0).sum(axis=1)
        return slope(samples["t"].to_numpy(), depth.to_numpy())
    grid = np.arange(span[0], span[1], SAMPLE_S)
    asked = np.sort(_asked(rows)["intended_start"].to_numpy())
    done = np.sort(_emails(run, variant, repeat)["first_at"].dropna().to_numpy())
    outstanding = np.searchsorted(asked, grid, "right") - np.searchsorted(done, grid, "right")
    return slope(grid, outstanding.astype(np.float64))


def completion_p99_s(
    run: Run, variant: str, repeat: int, span: tuple[float, float], rows: pd.DataFrame
) -> float | None:
    """Intended start -> email accepted, p99, of the work asked for in the window. Work never
    done counts as infinitely late, whether the drain ran out or the client got an error (then
    nothing was promised, and nothing was done either)."""
    asked = _asked(rows)
    asked = asked[(asked["intended_start"] >= span[0]) & (asked["intended_start"] < span[1])]
    if asked.empty:
        return None
    emails = _emails(run, variant, repeat).groupby("work_id")["first_at"].min()
    done = asked["work_id"].map(emails).astype("float64")
    seconds = (done - asked["intended_start"]).fillna(np.inf).to_numpy()
    return float(np.quantile(seconds, 0.99, method="inverted_cdf"))


def _asked(rows: pd.DataFrame) -> pd.DataFrame:
    """Logins of registered addresses: each asks for an email, answered well or not."""
    return rows[
        (rows["endpoint"] == "login").to_numpy()
        & rows["registered"].eq(True).fillna(False).to_numpy()
    ]


def _emails(run: Run, variant: str, repeat: int) -> pd.DataFrame:
    emails = _of(run.deliveries, STEP_SCENARIO, variant, repeat)
    return emails[(emails["endpoint"] == "login").fillna(False).to_numpy()]


def step_cpu(run: Run, variant: str, repeat: int) -> dict[str, float]:
    """Median CPU (% of one core) of each kind of process during a step's load: target,
    worker (its processes added up), locust, provider, redis."""
    t0, end = load_times(run, STEP_SCENARIO, variant, repeat)
    samples = _of(run.process_samples, STEP_SCENARIO, variant, repeat)
    samples = samples[(samples["t"] >= t0) & (samples["t"] <= end)]
    if samples.empty:
        return {}
    medians = samples.groupby(samples["process"].astype("str"))["cpu_percent"].median()
    kinds = medians.groupby(lambda name: str(name).split("-")[0]).sum()
    return {str(k): round(float(v)) for k, v in kinds.items()}


def harness_points(
    run: Run,
    variant: str,
    stages: list[tuple[float, float]],
    window: Window,
    late_limits: tuple[float, int],
) -> list[dict[str, Any]]:
    """Each /noop stage: its rate, the share of starts that were late, and whether the
    generator kept its schedule (late starts within `late_limits`: a share, and a handful)."""
    t0, _ = load_times(run, HARNESS_SCENARIO, variant, 0)
    rows = _of(run.requests, HARNESS_SCENARIO, variant, 0)
    intended = rows["intended_start"].to_numpy()
    late = (rows["start"] - rows["intended_start"]).to_numpy() * 1000.0 > window.late_ms
    out, at = [], t0
    for duration_s, rate in stages:
        # The first half second of a stage still carries the last one's users.
        skip_s = min(0.5, duration_s / 4)
        inside = (intended >= at + skip_s) & (intended < at + duration_s)
        share = float(late[inside].mean()) if inside.any() else 1.0
        started = int(inside.sum())
        out.append(
            {
                "rate": rate,
                "requests": started,
                "late_share": round(share, 4),
                # Slots it never started are no rows: a stage short of them fell behind too.
                "ok": not behind(share, started, *late_limits)
                and started >= 0.9 * rate * (duration_s - skip_s),
            }
        )
        at += duration_s
    return out
