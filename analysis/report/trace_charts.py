"""Charts built from a run's spans: where delivered work's time went, and slow works' waterfalls."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis.metrics.phases import PHASES
from analysis.report.charts import new_figure
from analysis.traces import CLIENT, CONSUMER, PRODUCER, SERVER, SpanRecord

PHASE_COLORS = dict(
    zip(PHASES, ("#999999", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7"), strict=True)
)
KIND_COLORS = {SERVER: "#0072B2", PRODUCER: "#E69F00", CONSUMER: "#009E73", CLIENT: "#D55E00"}
WATERFALL_ROWS = 40  # a fan-out of many seats is cut here, with a note


def plot_phases(phases: pd.DataFrame, title: str) -> Figure:
    """One bar per scenario: the mean seconds of each phase, stacked, so the bar is the mean
    time from request to email; n delivered works beside it."""
    scenarios = list(dict.fromkeys(phases["scenario"]))
    fig, (ax,) = new_figure(height=max(2.4, 0.6 * len(scenarios) + 1.6))
    means = phases.groupby("scenario", sort=False)[list(PHASES)].mean().reindex(scenarios)
    counts = phases.groupby("scenario", sort=False).size().reindex(scenarios)
    left = pd.Series(0.0, index=scenarios)
    for phase in PHASES:
        ax.barh(scenarios, means[phase], left=left, color=PHASE_COLORS[phase], label=phase)
        left += means[phase]
    for y, scenario in enumerate(scenarios):
        ax.text(left[scenario], y, f"  n={counts[scenario]}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("mean seconds from the request to the email, by phase")
    ax.set_xlim(0, float(left.max()) * 1.15 or 1.0)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, ncol=len(PHASES), loc="lower right")
    ax.set_title(title)
    return fig


def plot_waterfall(works: list[tuple[str, list[SpanRecord]]], title: str) -> Figure:
    """Each work's spans as bars on its own time axis from its request, one panel per work."""
    fig, axes = new_figure(rows=len(works), height=3.6)
    longest = 0.0
    for ax, (label, trace) in zip(axes, works, strict=True):
        shown = sorted(trace, key=lambda s: s.start_ns)[:WATERFALL_ROWS]
        t0 = shown[0].start_ns
        for y, span in enumerate(shown):
            start, width = (span.start_ns - t0) / 1e9, span.duration_s
            color = KIND_COLORS.get(span.kind, "#BBBBBB")
            ax.barh(y, max(width, 1e-4), left=start, color=color, height=0.8)
            ax.text(start + width, y, f" {span.name}", va="center", fontsize=6)
            longest = max(longest, start + width)
        cut = len(trace) - len(shown)
        ax.set_yticks([])
        ax.invert_yaxis()
        ax.set_xlabel(
            "seconds from the request" + (f" ({cut} more spans not shown)" if cut else "")
        )
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(label, fontsize=9)
    axes[0].set_xlim(0, longest * 1.2 or 1.0)  # room for the last span's name (x is shared)
    fig.suptitle(title)
    return fig
