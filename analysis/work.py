"""What happened to the work: expected, delivered, lost, duplicated, dead-lettered, and when."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.names import RUN, WORK_ENDPOINTS
from analysis.stats import group_quantiles
from analysis.timing import is_success, str_keys

WORK_KEYS = [*RUN, "endpoint", "work_id"]
COUNT_COLUMNS = [
    "expected",
    "delivered",
    "lost",
    "dead_lettered",
    "duplicates",
    "duplicate_attempts",
    "unpromised",
]
COMPLETION_COLUMNS = ["completion_p50_ms", "completion_p99_ms", "completion_max_ms"]


def expected_work(requests: pd.DataFrame) -> pd.DataFrame:
    """Work the client was told was accepted, one row per work id with its earliest request.

    A login promises an email only to a registered address; a paid-order webhook always does,
    and its redeliveries share the work id, so the first request starts the clock.
    """
    endpoint = requests["endpoint"].astype("str")
    promised = is_success(requests) & requests["work_id"].notna()
    promised &= ((endpoint == "login") & requests["registered"].eq(True).fillna(False)) | (
        endpoint == "webhook"
    )
    rows = str_keys(requests.loc[promised, [*WORK_KEYS, "start"]])
    return rows.groupby(WORK_KEYS, observed=True, sort=False)["start"].min().reset_index()


def delivered_work(deliveries: pd.DataFrame) -> pd.DataFrame:
    """One row per delivered work id: rows captured, extra send attempts, first acceptance."""
    rows = str_keys(deliveries[deliveries["endpoint"].notna()])
    return (
        rows.assign(extra_attempts=(rows["attempts"] - 1).clip(lower=0))
        .groupby(WORK_KEYS, observed=True, sort=False)
        .agg(
            rows=("work_id", "size"),
            extra_attempts=("extra_attempts", "sum"),
            first_at=("first_at", "min"),
        )
        .reset_index()
    )


def work_ledger(
    requests: pd.DataFrame, deliveries: pd.DataFrame, dead_letters: pd.DataFrame
) -> pd.DataFrame:
    """Every work id either promised or delivered, with its fate and completion time (ms)."""
    expected = expected_work(requests).assign(expected=True)
    delivered = delivered_work(deliveries).assign(delivered=True)
    ledger = expected.merge(delivered, on=WORK_KEYS, how="outer")
    ledger["expected"] = ledger["expected"].astype("boolean").fillna(False).astype(bool)
    ledger["delivered"] = ledger["delivered"].astype("boolean").fillna(False).astype(bool)
    dead = str_keys(dead_letters[[*RUN, "work_id"]].drop_duplicates()).assign(dead=True)
    ledger = ledger.merge(dead, on=[*RUN, "work_id"], how="left")
    ledger["dead"] = ledger["dead"].astype("boolean").fillna(False).astype(bool)
    ledger["completion_ms"] = (ledger["first_at"] - ledger["start"]) * 1000.0
    return ledger


def work_table(ledger: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Accounting per group; only for endpoints that promise work."""
    frame = ledger[ledger["endpoint"].isin(WORK_ENDPOINTS)]
    expected, delivered, dead = frame["expected"], frame["delivered"], frame["dead"]
    counts = pd.DataFrame(
        {
            "expected": expected,
            "delivered": expected & delivered,
            "dead_lettered": expected & dead & ~delivered,
            "lost": expected & ~delivered & ~dead,
            "unpromised": ~expected & delivered,
            "duplicates": (frame["rows"].fillna(1) - 1).clip(lower=0),
            "duplicate_attempts": frame["extra_attempts"].fillna(0),
        }
    )
    counts[keys] = frame[keys]
    out = counts.groupby(keys, observed=True).sum().reset_index()
    out[COUNT_COLUMNS] = out[COUNT_COLUMNS].astype(np.int64)
    done = frame[expected & delivered]
    grouped = done.groupby(keys, observed=True, sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    quantiles = group_quantiles(
        codes, done["completion_ms"].to_numpy(dtype=np.float64), [0.5, 0.99, 1.0], grouped.ngroups
    )
    completion = pd.DataFrame(quantiles, index=grouped.size().index, columns=COMPLETION_COLUMNS)
    return str_keys(out).merge(str_keys(completion.reset_index()), on=keys, how="left")
