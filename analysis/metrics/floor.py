"""The harness's floor: GET /noop per variant before the scenarios, what no target can beat."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics.stats import PERCENTILES, quantiles
from analysis.metrics.timing import is_success

COLUMNS = ["variant", "rate", "requests", "p50_ms", "p99_ms", "max_ms"]
# A latency within this factor of its variant's floor p50 is mostly the harness's own overhead.
BOUNDED_FACTOR = 2.0


def floor_table(floor: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """Per variant: the rate asked for (meta.json's floor), answered requests, p50/p99/max."""
    rates = {
        str(f.get("variant")): f.get("rate") for f in meta.get("floor") or [] if isinstance(f, dict)
    }
    rows = []
    answered = floor[is_success(floor).to_numpy()]
    for variant, frame in answered.groupby("variant", observed=True):
        latency = (frame["end"] - frame["start"]).to_numpy(dtype=np.float64) * 1000.0
        p50, p99, top = quantiles(latency, [PERCENTILES["p50"], PERCENTILES["p99"], 1.0])
        rate = rates.get(str(variant))
        rows.append(
            {
                "variant": str(variant),
                "rate": float(rate) if isinstance(rate, int | float) else np.nan,
                "requests": len(frame),
                "p50_ms": p50,
                "p99_ms": p99,
                "max_ms": top,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def bounded_by_harness(value: float | None, floor_p50_ms: float | None) -> bool | None:
    """True when `value` (ms) is within BOUNDED_FACTOR of the floor; None when either is
    unknown (a run without a floor)."""
    if value is None or floor_p50_ms is None or np.isnan(value) or np.isnan(floor_p50_ms):
        return None
    return bool(value <= BOUNDED_FACTOR * floor_p50_ms)
