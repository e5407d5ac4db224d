"""Chart data: small frames over time and over quantiles, built from the metric frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.stats import group_quantiles, min_support, quantiles
from analysis.metrics.timing import is_success, str_keys

# HdrHistogram-style spectrum: dense towards the tail, up to p99.99.
SPECTRUM_Q = np.unique(np.concatenate(([0.0], 1.0 - np.logspace(0, -4, 160))))
CDF_Q = np.linspace(0.0, 1.0, 201)


def per_second(requests: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, variant, endpoint and second since t0: offered load (requests intended
    that second), answered OK (by the second they ended), errors and p50/p99 latency (ms) by
    the second they were meant to start, so a hang's error shows inside the fault that caused
    it; `n`, how many latencies each second's percentiles rest on (a p99 of fewer than 100 is
    their maximum). Counts are averaged over repeats."""
    keys = ["scenario", "variant", "endpoint", "second"]
    frame = requests[["scenario", "variant", "endpoint", "repeat"]].assign(
        second=np.floor(requests["t_rel"].to_numpy()),
        ended=np.floor((requests["end"] - requests["t0"]).to_numpy()),
        latency=(requests["end"] - requests["start"]).to_numpy() * 1000.0,
        corrected=(requests["end"] - requests["intended_start"]).to_numpy() * 1000.0,
        ok=is_success(requests).to_numpy(),
    )
    grouped = frame.groupby(keys, observed=True, sort=True)
    codes = grouped.ngroup().to_numpy().astype(np.int64)
    lat = group_quantiles(codes, frame["latency"].to_numpy(), [0.5, 0.99], grouped.ngroups)
    cor = group_quantiles(codes, frame["corrected"].to_numpy(), [0.99], grouped.ngroups)
    out = pd.DataFrame(
        {
            "offered": grouped.size(),
            "errors": grouped["ok"].size() - grouped["ok"].sum(),
            "p50_ms": lat[:, 0],
            "p99_ms": lat[:, 1],
            "p99_corrected_ms": cor[:, 0],
            "n": grouped.size(),
        }
    )
    ended = frame.drop(columns="second").rename(columns={"ended": "second"})
    done = ended.groupby(keys, observed=True).agg(ok=("ok", "sum"))
    out = str_keys(out.join(done, how="outer").fillna(0).reset_index())
    reps = frame.groupby(["scenario", "variant"], observed=True)["repeat"].nunique()
    out = out.merge(str_keys(reps.rename("repeats").reset_index()), on=["scenario", "variant"])
    for column in ("offered", "ok", "errors"):
        out[column] = out[column] / out["repeats"]
    return out.drop(columns="repeats")


def spectrum(trimmed: pd.DataFrame, scenario: str, endpoint: str) -> pd.DataFrame:
    """Latency (ms) at each quantile of the spectrum, actual and corrected, per variant: only
    the quantiles the sample supports, then its maximum at 1 - 1/n (n in every row)."""
    rows = []
    mine = _select(trimmed, scenario, endpoint)
    for variant, frame in mine.groupby("variant", observed=True):
        actual = (frame["end"] - frame["start"]).to_numpy() * 1000.0
        corrected = (frame["end"] - frame["intended_start"]).to_numpy() * 1000.0
        n = len(frame)
        qs = [q for q in SPECTRUM_Q if n >= min_support(q)] + [1.0]
        rows.append(
            pd.DataFrame(
                {
                    "variant": str(variant),
                    "q": [*qs[:-1], 1.0 - 1.0 / max(n, 2)],
                    "latency_ms": quantiles(actual, qs),
                    "corrected_ms": quantiles(corrected, qs),
                    "n": n,
                }
            )
        )
    return _concat(rows, ["variant", "q", "latency_ms", "corrected_ms", "n"])


def wait_distributions(
    trimmed: pd.DataFrame, ledger: pd.DataFrame, scenario: str, endpoint: str
) -> pd.DataFrame:
    """Client latency and end-to-end completion (ms) at each CDF quantile, per variant."""
    rows = []
    mine = _select(trimmed, scenario, endpoint)
    done = ledger[
        (ledger["scenario"] == scenario)
        & (ledger["endpoint"] == endpoint)
        & ledger["expected"]
        & ledger["delivered"]
    ]
    for variant in sorted(str(v) for v in mine["variant"].unique()):
        client = mine[(mine["variant"] == variant).to_numpy()]
        values = {
            "client latency": (client["end"] - client["start"]).to_numpy() * 1000.0,
            "email accepted": done.loc[done["variant"] == variant, "completion_ms"].to_numpy(),
        }
        for series, array in values.items():
            if len(array):
                rows.append(
                    pd.DataFrame(
                        {
                            "variant": variant,
                            "series": series,
                            "q": CDF_Q,
                            "value_ms": quantiles(array.astype(np.float64), list(CDF_Q)),
                        }
                    )
                )
    return _concat(rows, ["variant", "series", "q", "value_ms"])


def enumeration_distributions(trimmed: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Login latency (ms) of registered and unknown addresses at each CDF quantile."""
    logins = _select(trimmed, scenario, "login")
    logins = logins[(logins["status"] != 0) & logins["registered"].notna()]
    rows = []
    for (variant, registered), frame in logins.groupby(["variant", "registered"], observed=True):
        latency = (frame["end"] - frame["start"]).to_numpy() * 1000.0
        rows.append(
            pd.DataFrame(
                {
                    "variant": str(variant),
                    "series": "registered" if registered else "unknown",
                    "q": CDF_Q,
                    "value_ms": quantiles(latency, list(CDF_Q)),
                }
            )
        )
    return _concat(rows, ["variant", "series", "q", "value_ms"])


def _select(frame: pd.DataFrame, scenario: str, endpoint: str) -> pd.DataFrame:
    return frame[((frame["scenario"] == scenario) & (frame["endpoint"] == endpoint)).to_numpy()]


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
