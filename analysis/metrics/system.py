"""The machinery under load: queue depth, time to drain, CPU and memory per process."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.metrics.timing import str_keys
from analysis.names import RUN

PAIR = ["scenario", "variant"]


def queue_table(queue_samples: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Peak and mean depth (ready + deferred), peak in-progress, and the slowest drain."""
    samples = str_keys(queue_samples).assign(
        depth=queue_samples["ready"].fillna(0).to_numpy()
        + queue_samples["deferred"].fillna(0).to_numpy()
    )
    depth = samples.groupby(PAIR).agg(
        peak_depth=("depth", "max"),
        mean_depth=("depth", "mean"),
        peak_in_progress=("in_progress", "max"),
    )
    drain = str_keys(runs).assign(drain_s=(runs["drained_at"] - runs["load_end"]).to_numpy())
    # A run that never drained has no drain time; "drained" says whether all of them did.
    drains = drain.groupby(PAIR).agg(drain_s=("drain_s", "max"), drained=("drained", "all"))
    drains.loc[~drains["drained"], "drain_s"] = np.nan
    return depth.join(drains, how="outer").reset_index()


def process_table(process_samples: pd.DataFrame) -> pd.DataFrame:
    """Peak CPU (% of one core) and peak RSS (MB) per process, over all repeats."""
    return (
        str_keys(process_samples)
        .groupby([*PAIR, "process"])
        .agg(peak_cpu_percent=("cpu_percent", "max"), peak_rss_mb=("rss_mb", "max"))
        .reset_index()
    )


def queue_series(queue_samples: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Queue depth and in-progress jobs per whole second from t0, averaged over repeats."""
    samples = str_keys(queue_samples).merge(str_keys(runs[[*RUN, "t0"]]), on=RUN, how="left")
    samples["second"] = np.floor(samples["t"] - samples["t0"])
    samples["depth"] = samples["ready"].fillna(0) + samples["deferred"].fillna(0)
    return (
        samples.groupby([*PAIR, "second"])
        .agg(depth=("depth", "mean"), in_progress=("in_progress", "mean"))
        .reset_index()
    )
