"""PNG charts: each plot_* builds a Figure (Agg canvas, no pyplot state) from a small frame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from analysis.metrics.compute import variant_order as _variant_order
from analysis.metrics.stats import PERCENTILES, min_support
from core.contracts import VARIANT_NAMES

# Okabe-Ito colours, told apart with any colour vision; one per variant, in the variants' order.
PALETTE = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
SPECTRUM_TICKS = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]


def new_figure(rows: int = 1, cols: int = 1, height: float = 4.2) -> tuple[Figure, list[Axes]]:
    total = height * rows if rows > 1 else height
    fig = Figure(figsize=(10, total), dpi=100)
    FigureCanvasAgg(fig)
    # Fixed margins (in inches, turned into fractions): automatic layout doubles drawing time.
    fig.subplots_adjust(
        left=0.8 / 10,
        right=1 - 0.25 / 10,
        top=1 - 0.55 / total,
        bottom=0.6 / total,
        hspace=0.45 / height * rows,
        wspace=0.25,
    )
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    return fig, [ax for row in axes for ax in row]


def color(variant: str) -> str:
    known = VARIANT_NAMES.index(variant) if variant in VARIANT_NAMES else len(PALETTE)
    return PALETTE[known] if known < len(PALETTE) else "#555555"


# A marker per variant, in the variants table's order, where colour already says something else.
MARKERS = ("^", "o", "v", "s", "D", "P", "X")


def marker(variant: str) -> str:
    known = VARIANT_NAMES.index(variant) if variant in VARIANT_NAMES else len(MARKERS)
    return MARKERS[known] if known < len(MARKERS) else "o"


def shade_windows(ax: Axes, windows: pd.DataFrame, warmup_s: float = 0.0) -> None:
    if warmup_s > 0:
        ax.axvspan(0, warmup_s, color="#bbbbbb", alpha=0.25, lw=0)
        ax.text(
            warmup_s / 2,
            0.97,
            "warm-up",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=8,
            color="#555555",
        )
    spans = zip(
        windows["start_s"].tolist(),
        windows["end_s"].tolist(),
        windows["label"].tolist(),
        strict=True,
    )
    for start, end, label in spans:
        ax.axvspan(start, end, color="#f0c419", alpha=0.25, lw=0)
        ax.text(
            (start + end) / 2,
            0.97,
            str(label),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=8,
        )


def _ms_axis(ax: Axes, label: str = "latency (ms)") -> None:
    ax.set_yscale("log")
    ax.set_ylabel(label)
    _log_ticks(ax.yaxis)
    ax.grid(True, which="major", alpha=0.3)


def _log_ticks(axis: Any) -> None:
    # Minor ticks on log axes are most of the drawing time and add little when reading.
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def plot_latency_over_time(
    seconds: pd.DataFrame, windows: pd.DataFrame, warmup_s: float, title: str
) -> Figure:
    # A slot planned a moment before the run's t0 is no second of the run; seconds in which
    # requests only ended (n = 0) have no latency to draw.
    seconds = seconds[(seconds["second"] >= 0) & (seconds["n"] > 0)]
    variants = sorted(seconds["variant"].unique(), key=_variant_order)
    fig, axes = new_figure(len(variants), 1, height=3.0)
    for ax, variant in zip(axes, variants, strict=True):
        mine = seconds[seconds["variant"] == variant].sort_values("second")
        ax.plot(mine["second"], mine["p50_ms"], color=color(variant), lw=1.2, label="p50")
        p99 = per_second_p99_label(mine["n"])
        ax.plot(mine["second"], mine["p99_ms"], color=color(variant), lw=1.2, alpha=0.5, label=p99)
        ax.plot(
            mine["second"],
            mine["p99_corrected_ms"],
            color="#333333",
            lw=0.8,
            ls=":",
            label=f"{p99} from intended start",
        )
        shade_windows(ax, windows, warmup_s)
        _ms_axis(ax)
        ax.set_title(variant, loc="left", fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
    if len(seconds):
        # The axis spans the data, not the warm-up or fault windows past a short run's end.
        axes[-1].set_xlim(0, float(seconds["second"].max()) + 1)
    axes[-1].set_xlabel("time since run start (s)")
    fig.suptitle(title)
    return fig


def per_second_p99_label(n: pd.Series) -> str:
    """What the per-second "p99" line is: a p99 only where a second holds 100 values or more."""
    needs = min_support(PERCENTILES["p99"])
    thin = n[n > 0] < needs  # a second in which requests only ended has no latency
    if not thin.any():
        return "p99"
    return (
        f"max of each second (n ≤ {int(n.max())})" if thin.all() else f"p99 (max where n < {needs})"
    )


def plot_spectrum(spectrum: pd.DataFrame, title: str) -> Figure:
    fig, (ax,) = new_figure()
    for variant in sorted(spectrum["variant"].unique(), key=_variant_order):
        mine = spectrum[spectrum["variant"] == variant]
        x = 1.0 / (1.0 - mine["q"].to_numpy().clip(max=0.99999))
        ax.plot(x, mine["latency_ms"], color=color(variant), lw=1.6, label=variant)
        ax.plot(
            x,
            mine["corrected_ms"],
            color=color(variant),
            lw=1.0,
            ls="--",
            label=f"{variant}, from intended start",
        )
        # The last point is the maximum: a sample of n says nothing beyond 1 - 1/n. Its n goes
        # in the legend: labels beside the points printed over each other when the n were alike.
        ax.plot(
            x[-1:],
            mine["latency_ms"].to_numpy()[-1:],
            "o",
            color=color(variant),
            ms=5,
            label=f"{variant}: max of {int(mine['n'].iloc[-1]):,}",
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([1.0 / (1.0 - q) for q in SPECTRUM_TICKS]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"p{q * 100:g}" for q in SPECTRUM_TICKS])
    ax.set_xlabel("percentile (log scale towards the tail)")
    _ms_axis(ax)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_throughput_errors(
    seconds: pd.DataFrame, windows: pd.DataFrame, warmup_s: float, title: str
) -> Figure:
    fig, (top, bottom) = new_figure(2, 1, height=2.8)
    for variant in sorted(seconds["variant"].unique(), key=_variant_order):
        mine = seconds[seconds["variant"] == variant].sort_values("second")
        top.plot(mine["second"], mine["ok"], color=color(variant), lw=1.2, label=f"{variant} OK")
        top.plot(
            mine["second"],
            mine["offered"],
            color=color(variant),
            lw=0.8,
            ls=":",
            label=f"{variant} offered",
        )
        bottom.plot(mine["second"], mine["errors"], color=color(variant), lw=1.2, label=variant)
    for ax in (top, bottom):
        shade_windows(ax, windows, warmup_s)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
    top.set_ylabel("requests / s")
    bottom.set_ylabel("errors / s")
    bottom.set_xlabel("time since run start (s)")
    fig.suptitle(title)
    return fig


def plot_wait(distributions: pd.DataFrame, title: str) -> Figure:
    variants = sorted(distributions["variant"].unique(), key=_variant_order)
    fig, axes = new_figure(len(variants), 1, height=2.6)
    styles = {"client latency": "-", "email accepted": "--"}
    for ax, variant in zip(axes, variants, strict=True):
        _plot_cdfs(ax, distributions, variant, styles, "{}")
        ax.set_ylabel("% of requests")
        ax.set_ylim(0, 100)
        ax.grid(True, alpha=0.3)
        ax.set_title(variant, loc="left", fontsize=10)
        ax.legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("time after the request started (ms, log scale)")
    fig.suptitle(title)
    return fig


def plot_queue(queue: pd.DataFrame, windows: pd.DataFrame, title: str) -> Figure:
    fig, (ax,) = new_figure()
    for variant in sorted(queue["variant"].unique(), key=_variant_order):
        mine = queue[queue["variant"] == variant].sort_values("second")
        ax.plot(
            mine["second"],
            mine["depth"],
            color=color(variant),
            lw=1.4,
            label=f"{variant}: queued (ready + deferred)",
        )
        ax.plot(
            mine["second"],
            mine["in_progress"],
            color=color(variant),
            lw=1.0,
            ls="--",
            label=f"{variant}: in progress",
        )
    shade_windows(ax, windows)
    ax.set_xlabel("time since run start (s)")
    ax.set_ylabel("jobs")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_latency_vs_load(seconds: pd.DataFrame, title: str) -> Figure:
    fig, (ax,) = new_figure()
    for variant in sorted(seconds["variant"].unique(), key=_variant_order):
        mine = seconds[seconds["variant"] == variant]
        ax.scatter(
            mine["offered"],
            mine["p50_ms"],
            s=10,
            color=color(variant),
            alpha=0.6,
            marker="o",
            label=f"{variant} p50",
        )
        ax.scatter(
            mine["offered"],
            mine["p99_ms"],
            s=14,
            color=color(variant),
            alpha=0.6,
            marker="^",
            label=f"{variant} p99",
        )
    _ms_axis(ax)
    ax.set_xlabel("offered load (requests intended per second)")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


def plot_summary(table: pd.DataFrame, title: str) -> Figure:
    """Horizontal bars, one row of bars per scenario (a bar per variant), in three panels side
    by side: p99 client latency, p99 completion, work not delivered. A hatched latency bar is
    the maximum of fewer than 100 values, not a p99."""
    panels = [
        ("p99_ms", "client p99 (ms)", True),
        ("completion_p99_ms", "email accepted p99 (ms)", True),
        ("not_delivered", "work lost or dead-lettered", False),
    ]
    scenarios: Sequence[str] = list(dict.fromkeys(table["scenario"]))
    variants = sorted(table["variant"].unique(), key=_variant_order)
    height = 1.5 + 0.22 * len(scenarios) * max(len(variants), 2)
    fig = Figure(figsize=(12, height), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=0.21, right=0.98, top=1 - 1.0 / height, bottom=0.9 / height, wspace=0.12
    )
    axes = fig.subplots(1, len(panels), sharey=True)
    width = 0.8 / max(len(variants), 1)
    y = np.arange(len(scenarios))
    for ax, (column, label, log) in zip(axes, panels, strict=True):
        for i, variant in enumerate(variants):
            mine = table[table["variant"] == variant].set_index("scenario")
            values = np.array([float(mine[column].get(s, np.nan)) for s in scenarios])
            thin = [
                bool(mine["thin_" + column].get(s, False)) if "thin_" + column in mine else False
                for s in scenarios
            ]
            bars = ax.barh(
                y + (i - (len(variants) - 1) / 2) * width,
                np.nan_to_num(values),
                width,
                color=color(variant),
                label=variant,
            )
            for bar, hatch in zip(bars, thin, strict=True):
                if hatch:
                    bar.set_hatch("///")
                    bar.set_edgecolor("white")
        shown = table[column].to_numpy(dtype=float)
        shown = shown[np.isfinite(shown) & (shown > 0)]
        if log:
            ax.set_xscale("log")
            _log_ticks(ax.xaxis)
            # Enough ticks to read, few enough not to print over each other: 1, 10, 100 across
            # decades; 1, 2, 3, 5, 7 within one (else a panel of 300-900 ms got one tick).
            span = shown.max() / shown.min() if len(shown) else 1.0
            subs = (1.0,) if span >= 100 else (1.0, 2.0, 5.0) if span >= 10 else (1, 2, 3, 5, 7)
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8))
        elif not len(shown):
            # Nothing lost anywhere: say so, rather than draw no bars on an axis around 0.
            ax.set_xlim(0, 1)
            ax.set_xticks([])
            ax.text(0.5, 0.5, "0 lost", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlabel(label)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(y, [f"{s} ({e})" for s, e in _scenario_labels(table, scenarios)])
    axes[0].invert_yaxis()  # the first scenario on top, as in the tables
    # Above the panels, where it covers no bar; plain swatches, since a first bar may be hatched.
    fig.legend(
        [Patch(color=color(v)) for v in variants],
        variants,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.45 / height),
        ncol=len(variants),
        fontsize=8,
        frameon=False,
    )
    fig.suptitle(f"{title} (hatched: the max of fewer than 100 values, not a p99)")
    return fig


def plot_enumeration(distributions: pd.DataFrame, aucs: dict[str, float], title: str) -> Figure:
    variants = sorted(distributions["variant"].unique(), key=_variant_order)
    fig, axes = new_figure(1, len(variants), height=3.8)
    styles = {"registered": "-", "unknown": "--"}
    for ax, variant in zip(axes, variants, strict=True):
        _plot_cdfs(ax, distributions, variant, styles, "{} address")
        ax.set_xlabel("login latency (ms, log scale)")
        ax.set_ylabel("% of logins")
        ax.grid(True, alpha=0.3)
        ax.set_title(f"{variant}: AUC {aucs.get(variant, float('nan')):.2f}", fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    return fig


def _plot_cdfs(
    ax: Axes, distributions: pd.DataFrame, variant: str, styles: dict[str, str], label: str
) -> None:
    """One cumulative distribution per series of `variant`, on a log time axis."""
    mine = distributions[distributions["variant"] == variant]
    for series, rows in mine.groupby("series"):
        ax.plot(
            rows["value_ms"].clip(lower=0.01),
            rows["q"] * 100,
            color=color(variant),
            ls=styles.get(str(series), "-"),
            lw=1.6,
            label=label.format(series),
        )
    ax.set_xscale("log")
    _log_ticks(ax.xaxis)


def _scenario_labels(table: pd.DataFrame, scenarios: Sequence[str]) -> list[tuple[str, str]]:
    endpoints = table.drop_duplicates("scenario").set_index("scenario")["endpoint"]
    return [(s, str(endpoints.get(s, ""))) for s in scenarios]
