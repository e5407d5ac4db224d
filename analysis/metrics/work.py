"""What happened to the work: expected, delivered, pending, lost, duplicated, dead-lettered."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.stats import group_intervals, group_quantiles
from analysis.metrics.timing import is_success, str_keys
from analysis.names import RUN, WORK_COUNTS
from core.contracts import WORK_ENDPOINTS

COUNT_COLUMNS = list(WORK_COUNTS)
# Request -> email accepted, in ms: the quantiles summary.json keeps.
COMPLETION = {"p50": 0.5, "p99": 0.99, "max": 1.0}
COMPLETION_COLUMNS = [f"completion_{k}_ms" for k in COMPLETION]
COMPLETION_BOUNDED = {k: q for k, q in COMPLETION.items() if q < 1.0}
COMPLETION_INTERVALS = [
    f"completion_{k}_{side}_ms" for k in COMPLETION_BOUNDED for side in ("low", "high")
]


def run_ids(
    frame: pd.DataFrame, lookup: dict[tuple[str, str, int], int]
) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
    """One small integer per (scenario, variant, repeat), shared through `lookup`.

    Merging a million rows on one int and the work id is several times faster than on
    three more string columns.
    """
    grouped = frame.groupby(RUN, observed=True, sort=False)
    keys = [(str(s), str(v), int(r)) for s, v, r in grouped.size().index]
    ids = np.array([lookup.setdefault(k, len(lookup)) for k in keys] or [0], dtype=np.int64)
    return ids[grouped.ngroup().to_numpy()]


def expected_work(requests: pd.DataFrame, lookup: dict[tuple[str, str, int], int]) -> pd.DataFrame:
    """Work the client was told was accepted, one row per work id with its earliest request.

    A login promises an email only to a registered address; a paid-order webhook always does,
    and its redeliveries share the work id, so the first request starts the clock.
    """
    endpoint = requests["endpoint"]
    promised = is_success(requests) & requests["work_id"].notna()
    promised &= ((endpoint == "login") & requests["registered"].eq(True).fillna(False)) | (
        endpoint == "webhook"
    )
    rows = requests.loc[promised.to_numpy(), ["work_id", "start"]]
    rows.insert(0, "run", run_ids(requests[promised.to_numpy()], lookup))
    rows["endpoint"] = endpoint[promised.to_numpy()].astype("str").to_numpy()
    return (
        rows.groupby(["run", "work_id"], sort=False)
        .agg(start=("start", "min"), endpoint=("endpoint", "first"))
        .reset_index()
    )


def delivered_work(
    deliveries: pd.DataFrame, lookup: dict[tuple[str, str, int], int]
) -> pd.DataFrame:
    """One row per delivered work id: rows captured, extra send attempts, first acceptance."""
    rows = deliveries[deliveries["endpoint"].notna().to_numpy()]
    return (
        rows[["work_id", "first_at"]]
        .assign(
            run=run_ids(rows, lookup),
            extra_attempts=(rows["attempts"] - 1).clip(lower=0).to_numpy(),
            endpoint=rows["endpoint"].astype("str").to_numpy(),
        )
        .groupby(["run", "work_id"], sort=False)
        .agg(
            rows=("work_id", "size"),
            extra_attempts=("extra_attempts", "sum"),
            first_at=("first_at", "min"),
            endpoint=("endpoint", "first"),
        )
        .reset_index()
    )


def work_ledger(
    requests: pd.DataFrame,
    deliveries: pd.DataFrame,
    dead_letters: pd.DataFrame,
    pending: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every work id either promised or delivered, with its fate and completion time (ms).

    `pending` lists the jobs still queued or running when the run stopped waiting: work they
    serve is pending, not lost (unless it was delivered or dead-lettered after all).
    """
    lookup: dict[tuple[str, str, int], int] = {}
    fates = {"expected": False, "delivered": False, "dead": False, "queued": False}
    expected = expected_work(requests, lookup).assign(**{**fates, "expected": True})
    delivered = delivered_work(deliveries, lookup).assign(**{**fates, "delivered": True})
    dead = dead_letters[["work_id"]].assign(
        run=run_ids(dead_letters, lookup), **{**fates, "dead": True}
    )
    parts = [expected, delivered, dead]
    if pending is not None and len(pending):
        queued = pending[pending["work_id"].notna().to_numpy()]
        parts.append(
            queued[["work_id"]].assign(run=run_ids(queued, lookup), **{**fates, "queued": True})
        )
    # One groupby over the parts stacked is an outer join without the sorting of merge().
    ledger = (
        pd.concat(parts, ignore_index=True)
        .groupby(["run", "work_id"], sort=False)
        .agg(
            start=("start", "min"),
            first_at=("first_at", "min"),
            rows=("rows", "sum"),
            extra_attempts=("extra_attempts", "sum"),
            endpoint=("endpoint", "first"),
            expected=("expected", "any"),
            delivered=("delivered", "any"),
            dead=("dead", "any"),
            queued=("queued", "any"),
        )
        .reset_index()
    )
    ledger["completion_ms"] = (ledger["first_at"] - ledger["start"]) * 1000.0
    runs = pd.DataFrame(list(lookup), columns=RUN)
    # Rows of one run share a run id, so the key columns come from the small table.
    codes = ledger["run"].to_numpy()
    for column in RUN:
        ledger[column] = runs[column].to_numpy()[codes]
    return ledger


def work_table(ledger: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Accounting per group; only for endpoints that promise work."""
    frame = ledger[ledger["endpoint"].isin(WORK_ENDPOINTS)]
    expected, delivered, dead = frame["expected"], frame["delivered"], frame["dead"]
    queued = frame["queued"]
    counts = pd.DataFrame(
        {
            "expected": expected,
            "delivered": expected & delivered,
            "dead_lettered": expected & dead & ~delivered,
            "pending": expected & ~delivered & ~dead & queued,
            "lost": expected & ~delivered & ~dead & ~queued,
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
    values = done["completion_ms"].to_numpy(dtype=np.float64)
    n = grouped.ngroups
    quantiles = group_quantiles(codes, values, list(COMPLETION.values()), n)
    bounds = group_intervals(codes, values, list(COMPLETION_BOUNDED.values()), n).reshape(n, -1)
    completion = pd.DataFrame(
        np.hstack([quantiles, bounds]),
        index=grouped.size().index,
        columns=COMPLETION_COLUMNS + COMPLETION_INTERVALS,
    )
    return str_keys(out).merge(str_keys(completion.reset_index()), on=keys, how="left")
