"""Numpy-only statistics: exact grouped percentiles and their support, AUC (Mann-Whitney),
bootstrap intervals, Fisher's exact test."""

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


def group_ranks(codes: Ints, values: Floats, ranks: Ints, n_groups: int) -> Floats:
    """The value at a 1-based rank of each group (ranks: shape (n_groups, k)); NaN outside 1..n."""
    keep = ~np.isnan(values)
    codes, values = codes[keep], values[keep]
    sorted_values = values[np.lexsort((values, codes))]
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    inside = (ranks >= 1) & (ranks <= counts[:, None])
    at = np.where(inside, starts[:, None] + ranks - 1, 0)
    out: Floats = np.where(inside, sorted_values[at] if len(sorted_values) else np.nan, np.nan)
    return out


def group_intervals(codes: Ints, values: Floats, qs: list[float], n_groups: int) -> Floats:
    """Per group and quantile, the ~95% interval's (low, high): shape (n_groups, len(qs), 2).
    A bound beyond the sample (too few values, as for p99 of 40) is NaN: unknown."""
    if n_groups == 0:
        return np.full((0, len(qs), 2), np.nan)
    counts = np.bincount(codes[~np.isnan(values)], minlength=n_groups)
    bounds = [rank_interval(q, counts) for q in qs]
    ranks = np.stack([np.stack(b, axis=1) for b in bounds], axis=1).reshape(n_groups, -1)
    out: Floats = group_ranks(codes, values, ranks, n_groups).reshape(n_groups, len(qs), 2)
    return out


def min_support(q: float) -> int:
    """The fewest values a percentile needs to be more than the maximum: 100 for p99, 1,000
    for p99.9 (the maximum itself needs one)."""
    return 1 if q >= 1.0 else math.ceil(round(1.0 / (1.0 - q), 6))


def supported(q: float, n: int | None) -> bool:
    return n is not None and n >= min_support(q)


def rank_interval(q: float, counts: Ints, z: float = 1.96) -> tuple[Ints, Ints]:
    """1-based ranks bounding a ~95% distribution-free interval of the q quantile (normal
    approximation of the binomial count below it, rounded outwards)."""
    n = counts.astype(np.float64)
    spread = z * np.sqrt(n * q * (1.0 - q))
    low = np.floor(n * q - spread).astype(np.int64)
    high = np.ceil(n * q + spread).astype(np.int64) + 1
    return low, high


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


def fisher_exact(a_hits: int, a_total: int, b_hits: int, b_total: int) -> float:
    """Two-sided p-value of Fisher's exact test: could a and b share one rate of hits?"""
    hits, total = a_hits + b_hits, a_total + b_total
    if total == 0 or hits in (0, total):
        return 1.0

    def log_p(k: int) -> float:  # hypergeometric: k of the hits fall in a
        return _log_comb(a_total, k) + _log_comb(b_total, hits - k) - _log_comb(total, hits)

    seen = log_p(a_hits)
    ks = range(max(0, hits - b_total), min(a_total, hits) + 1)
    # Every table at most as likely as the one seen (a small tolerance for rounding).
    p = sum(math.exp(lp) for lp in map(log_p, ks) if lp <= seen + 1e-7)
    return min(1.0, p)


def poisson_rates(a_count: int, a_seconds: float, b_count: int, b_seconds: float) -> float:
    """Two-sided p-value that counts over two spans share one rate (the conditional binomial
    test: given the total, a's share should be its share of the time)."""
    n = a_count + b_count
    if n == 0 or a_seconds <= 0 or b_seconds <= 0:
        return 1.0
    share = a_seconds / (a_seconds + b_seconds)

    def log_p(k: int) -> float:
        return _log_comb(n, k) + k * math.log(share) + (n - k) * math.log1p(-share)

    seen = log_p(a_count)
    return min(1.0, sum(math.exp(lp) for lp in map(log_p, range(n + 1)) if lp <= seen + 1e-7))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def safe_ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or math.isnan(numerator + denominator):
        return None
    if denominator == 0:
        return None if numerator == 0 else math.inf
    return numerator / denominator
