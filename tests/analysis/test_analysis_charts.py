"""The charts say what the numbers say: no empty panel, no label over another, no axis past
the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from analysis.report.charts import plot_latency_over_time, plot_spectrum, plot_summary

SCENARIOS = ("steady", "outage")
VARIANTS = ("sync", "delegated")


def summary_table(not_delivered: int = 0) -> pd.DataFrame:
    rows = [
        {
            "scenario": s,
            "variant": v,
            "endpoint": "login",
            "p99_ms": 400.0 if v == "sync" else 6.0,
            "completion_p99_ms": 300.0 + 100 * i + 50 * j,
            "not_delivered": not_delivered,
        }
        for i, s in enumerate(SCENARIOS)
        for j, v in enumerate(VARIANTS)
    ]
    return pd.DataFrame(rows)


def drawn(fig: Figure) -> Figure:
    fig.canvas.draw()
    return fig


def test_summary_says_0_lost_when_nothing_was_lost() -> None:
    fig = drawn(plot_summary(summary_table(), "run"))
    lost = fig.axes[2]
    assert [t.get_text() for t in lost.texts] == ["0 lost"]
    fig = drawn(plot_summary(summary_table(not_delivered=3), "run"))
    assert len(fig.axes[2].texts) == 0


def test_summary_email_panel_has_ticks_to_read_within_one_decade() -> None:
    fig = drawn(plot_summary(summary_table(), "run"))
    email = fig.axes[1]
    low, high = email.get_xlim()
    assert len([t for t in email.get_xticks() if low <= t <= high]) >= 2


def test_summary_legend_covers_no_bar() -> None:
    fig = drawn(plot_summary(summary_table(), "run"))
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert not any(Bbox.intersection(box, ax.get_window_extent(renderer)) for ax in fig.axes)


def test_spectrum_names_each_maximum_once_and_apart() -> None:
    rows = [
        {"variant": v, "q": q, "latency_ms": ms, "corrected_ms": ms, "n": n}
        for v, n in (("sync", 59), ("delegated", 60))
        for q, ms in ((0.5, 3.0), (0.9, 5.0), (1 - 1 / n, 9.0))
    ]
    fig = drawn(plot_spectrum(pd.DataFrame(rows), "steady"))
    (ax,) = fig.axes
    assert len(ax.texts) == 0  # labels beside two maxima at one point printed over each other
    legend = ax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    assert "sync: max of 59" in labels and "delegated: max of 60" in labels


def test_latency_over_time_spans_the_data_only() -> None:
    rows = [
        {
            "scenario": "steady",
            "variant": v,
            "endpoint": "login",
            "second": float(second),
            "p50_ms": 2.0,
            "p99_ms": 5.0,
            "p99_corrected_ms": 6.0,
            "n": 20 if second <= 2 else 0,  # second 3: answers ended, none started
        }
        for v in VARIANTS
        for second in (-1, 0, 1, 2, 3)
    ]
    windows = pd.DataFrame({"start_s": [], "end_s": [], "label": []})
    fig = drawn(plot_latency_over_time(pd.DataFrame(rows), windows, 5.0, "steady"))
    for ax in fig.axes:
        assert ax.get_xlim() == (0.0, 3.0)
        assert all(np.asarray(line.get_xdata()).min() >= 0 for line in ax.get_lines())
