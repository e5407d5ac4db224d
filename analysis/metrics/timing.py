"""What the client saw: requests, throughput, errors by kind, latency percentiles, late starts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.stats import PERCENTILES, group_intervals, group_quantiles
from analysis.names import RUN

LATENCY_COLUMNS = [f"{k}_ms" for k in PERCENTILES]
CORRECTED_COLUMNS = [f"{k}_corrected_ms" for k in PERCENTILES]
# ~95% intervals of each percentile below the maximum: what a comparison of two runs reads.
BOUNDED = {k: q for k, q in PERCENTILES.items() if q < 1.0}
INTERVAL_COLUMNS = [
    f"{k}{kind}_{side}_ms"
    for kind in ("", "_corrected")
    for k in BOUNDED
    for side in ("low", "high")
]


def with_run_times(requests: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Add t0, load_end and t_rel (intended start in seconds from the run's t0)."""
    times = runs[[*RUN, "t0", "load_end"]].astype({"scenario": "str", "variant": "str"})
    keys = requests[RUN].astype({"scenario": "str", "variant": "str", "repeat": "int32"})
    joined = keys.merge(times, on=RUN, how="left")
    out = requests.copy()
    out["t0"] = joined["t0"].to_numpy()
    out["load_end"] = joined["load_end"].to_numpy()
    out["t_rel"] = out["intended_start"] - out["t0"]
    return out


def trim_warmup(requests: pd.DataFrame, warmup_s: float) -> pd.DataFrame:
    """Requests intended to start at least `warmup_s` after their run's t0 (needs t_rel)."""
    return requests[requests["t_rel"].to_numpy() >= warmup_s]


def in_windows(requests: pd.DataFrame, windows: pd.DataFrame) -> pd.Series:
    """True for requests whose intended start falls inside one of their scenario's windows."""
    inside = np.zeros(len(requests), dtype=bool)
    scenario = requests["scenario"].astype("str").to_numpy()
    t_rel = requests["t_rel"].to_numpy()
    for window in windows.itertuples(index=False):
        inside |= (scenario == window.scenario) & (t_rel >= window.start_s) & (t_rel < window.end_s)
    return pd.Series(inside, index=requests.index)


def is_success(requests: pd.DataFrame) -> pd.Series:
    status = requests["status"]
    return (status >= 200) & (status < 400) & (requests["error"].astype("str") == "")


def error_kind(requests: pd.DataFrame) -> pd.Series:
    """`http_<status>` for an error status, else `timeout`, `connection`, or `other`."""
    status = requests["status"].to_numpy()
    error = requests["error"].astype("str").to_numpy()
    kind = np.where(error == "", "other", error)
    kind = np.where(np.isin(kind, ["timeout", "connection", "other"]), kind, "other")
    kind = np.where(status >= 400, np.char.add("http_", status.astype(str)), kind)
    return pd.Series(kind, index=requests.index, dtype="str")


def traffic_table(requests: pd.DataFrame, runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counts, rates and error kinds per group, over whole runs (warm-up included)."""
    frame = requests[list(dict.fromkeys([*keys, *RUN]))].assign(ok=is_success(requests).to_numpy())
    out = str_keys(
        frame.groupby(keys, observed=True)
        .agg(requests=("ok", "size"), ok=("ok", "sum"), repeats=("repeat", "nunique"))
        .reset_index()
    )
    run_seconds = str_keys(runs[RUN]).assign(
        seconds=(runs["load_end"] - runs["t0"]).clip(lower=1e-9).to_numpy()
    )
    both = list(dict.fromkeys([*keys, *RUN]))
    present = str_keys(frame.groupby(both, observed=True).size().reset_index())
    seconds = present.merge(run_seconds, on=RUN, how="left").groupby(keys)["seconds"].sum()
    out = out.merge(seconds.reset_index(), on=keys, how="left")
    out["throughput_rps"] = out["ok"] / out["seconds"]
    out["offered_rps"] = out["requests"] / out["seconds"]
    out["error_rate"] = 1.0 - out["ok"] / out["requests"]
    failed = frame[~frame["ok"].to_numpy()]
    kinds = str_keys(
        failed.assign(kind=error_kind(requests[~frame["ok"].to_numpy()]).to_numpy())
        .groupby([*keys, "kind"], observed=True)
        .size()
        .reset_index(name="count")
    )
    by_kind: dict[tuple[object, ...], dict[str, int]] = {}
    for row in kinds.itertuples(index=False):
        values = tuple(row)
        by_kind.setdefault(values[: len(keys)], {})[str(values[-2])] = int(values[-1])
    out["errors_by_kind"] = pd.Series(
        [by_kind.get(tuple(r), {}) for r in out[keys].itertuples(index=False, name=None)],
        index=out.index,
        dtype=object,
    )
    return out


def str_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Key columns as plain str/int so frames from different sources merge cleanly."""
    types = {c: "str" for c in ("scenario", "variant", "endpoint", "process") if c in frame}
    if "repeat" in frame:
        return frame.astype({**types, "repeat": "int64"})
    return frame.astype(types)


def latency_table(
    requests: pd.DataFrame, keys: list[str], late_threshold_ms: float
) -> pd.DataFrame:
    """Exact percentiles (ms) from the actual and from the intended start, and late starts."""
    grouped = requests.groupby(keys, observed=True, sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    index = grouped.size().index
    n = len(index)
    start = requests["start"].to_numpy()
    end = requests["end"].to_numpy()
    intended = requests["intended_start"].to_numpy()
    qs = list(PERCENTILES.values())
    actual = group_quantiles(codes, (end - start) * 1000.0, qs, n)
    corrected = group_quantiles(codes, (end - intended) * 1000.0, qs, n)
    bounds = [
        group_intervals(codes, v, list(BOUNDED.values()), n).reshape(n, -1)
        for v in ((end - start) * 1000.0, (end - intended) * 1000.0)
    ]
    out = pd.DataFrame(
        np.hstack([actual, corrected, *bounds]),
        index=index,
        columns=LATENCY_COLUMNS + CORRECTED_COLUMNS + INTERVAL_COLUMNS,
    )
    late = (start - intended) * 1000.0 > late_threshold_ms
    out["latency_requests"] = np.bincount(codes, minlength=n)
    out["late_starts"] = np.bincount(codes, weights=late, minlength=n).astype(np.int64)
    out["late_start_rate"] = out["late_starts"] / out["latency_requests"].clip(lower=1)
    return str_keys(out.reset_index())
