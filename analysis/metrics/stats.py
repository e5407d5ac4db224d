"""Numpy-only statistics: exact grouped percentiles, AUC (Mann-Whitney), bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99, "p999": 0.999, "max": 1.0}


def group_quantiles(codes: Ints, values: Floats, qs: list[float], n_groups: int) -> Floats:
    """Nearest-rank quantiles of `values` per group code: shape (n_groups, len(qs)), NaN if empty.

    Nearest rank (the smallest value with at least q of the sample at or below it) is what
    HdrHistogram and most load tools report, and it is always a value that was measured.
    """
    keep = ~np.isnan(values)
    codes, values = codes[keep], values[keep]
    order = np.lexsort((values, codes))
    sorted_values = values[order]
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full((n_groups, len(qs)), np.nan)
    has = counts > 0
    for j, q in enumerate(qs):
        rank = np.maximum(np.ceil(q * counts).astype(np.int64), 1)
        out[has, j] = sorted_values[(starts + rank - 1)[has]]
    return out


def quantiles(values: Floats, qs: list[float]) -> Floats:
    row: Floats = group_quantiles(np.zeros(len(values), dtype=np.int64), values, qs, 1)[0]
    return row


def percentile_dict(values: Floats, scale: float = 1.0) -> dict[str, float | None]:
    row = quantiles(values, list(PERCENTILES.values())) * scale
    return {k: clean(v) for k, v in zip(PERCENTILES, row, strict=True)}


def clean(value: float) -> float | None:
    """A float ready for strict JSON: NaN and infinities become None; sub-micro noise goes."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)


def auc(positive: Floats, negative: Floats) -> float:
    """P(positive > negative) + P(tie) / 2, from ranks: Mann-Whitney U / (n1 * n2)."""
    n1, n2 = len(positive), len(negative)
    if n1 == 0 or n2 == 0:
        return float("nan")
    both = np.concatenate((positive, negative))
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    u = float(average_rank[inverse[:n1]].sum()) - n1 * (n1 + 1) / 2.0
    return u / (n1 * n2)


def bootstrap_ratio_ci(
    numerator: Floats,
    denominator: Floats,
    *,
    samples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of mean(numerator) / mean(denominator) over repetitions."""
    if len(numerator) < 2 or len(denominator) < 2:
        return None
    rng = np.random.default_rng(seed)
    num = numerator[rng.integers(0, len(numerator), (samples, len(numerator)))].mean(axis=1)
    den = denominator[rng.integers(0, len(denominator), (samples, len(denominator)))].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = num / den
    ratios = ratios[np.isfinite(ratios)]
    if len(ratios) == 0:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def safe_ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or math.isnan(numerator + denominator):
        return None
    if denominator == 0:
        return None if numerator == 0 else math.inf
    return numerator / denominator
