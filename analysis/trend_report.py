"""Render a trend: a chart per key figure (a line per variant, intervals, verdicts marked) and
a markdown table, written beside a CSV of every point."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure as Chart

from analysis.export import Figure
from analysis.metrics.compute import scenario_order, variant_order
from analysis.report.charts import color, new_figure
from analysis.trend import KEY_FIGURES, Trend

MARKS = {"regression": ("X", "#c00000"), "improvement": ("^", "#008000")}


def write_trend(trend: Trend, out: Path) -> list[Path]:
    """trend.md, trend.csv and trend-<metric>.png in `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "trend.md", out / "trend.csv"]
    (out / "trend.md").write_text(render_markdown(trend))
    trend.points.to_csv(out / "trend.csv", index=False)
    for figure in KEY_FIGURES:
        mine = trend.points[trend.points["metric"] == figure.metric]
        if mine.empty:
            continue
        path = out / f"trend-{figure.metric.replace('.', '-')}.png"
        plot_trend(mine, figure, trend).savefig(path)
        written.append(path)
    return written


def _groups(points: pd.DataFrame) -> list[tuple[str, str]]:
    pairs = {(str(s), str(e)) for s, e in zip(points["scenario"], points["endpoint"], strict=True)}
    return sorted(pairs, key=lambda p: (scenario_order(p[0]), p[1]))


def _variants(points: pd.DataFrame) -> list[str]:
    return sorted({str(v) for v in points["variant"]}, key=variant_order)


def plot_trend(points: pd.DataFrame, figure: Figure, trend: Trend) -> Chart:
    groups = _groups(points)
    rows = math.ceil(len(groups) / 2)
    fig, axes = new_figure(rows, 2 if len(groups) > 1 else 1, height=3.2)
    runs = f"{len(trend.runs)} runs, {trend.order} order"
    fig.suptitle(f"{figure.title} ({figure.unit}) across {runs}")
    for ax, (scenario, endpoint) in zip(axes, groups, strict=False):
        here = points[(points["scenario"] == scenario) & (points["endpoint"] == endpoint)]
        for variant in _variants(here):
            line = here[here["variant"] == variant].sort_values("run")
            ax.plot(
                line["run"], line["value"], marker="o", ms=3, color=color(variant), label=variant
            )
            known = line.dropna(subset=["low", "high"])
            ax.fill_between(
                known["run"], known["low"], known["high"], color=color(variant), alpha=0.2, lw=0
            )
            for verdict, (marker, shade) in MARKS.items():
                hit = line[line["verdict"] == verdict]
                ax.scatter(
                    hit["run"],
                    hit["value"],
                    marker=marker,
                    s=70,
                    color=shade,
                    zorder=3,
                    label=f"{verdict} ({variant})" if len(hit) else None,
                )
        ax.set_title(f"{scenario}, {endpoint}", fontsize=9)
        ax.legend(fontsize=7)
    for ax in axes[len(groups) :]:
        ax.set_visible(False)
    axes[0].set_xticks(
        range(len(trend.runs)), [f"{i}: {r.label}" for i, r in enumerate(trend.runs)]
    )
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=7, labelbottom=True)
    return fig


def _cell(row: pd.Series) -> str:
    text = f"{row['value']:.4g}"
    if not pd.isna(row["low"]) and not pd.isna(row["high"]):
        text += f" ({row['low']:.4g} to {row['high']:.4g})"
    if row["verdict"] in MARKS:
        text += f" **{row['verdict']}**"
    return text


def render_markdown(trend: Trend) -> str:
    points = trend.points
    lines = [
        f"# Trend across {len(trend.runs)} runs, in {trend.order} order",
        "",
        "Each value with its ~95% interval where the run has one; **regression** and",
        "**improvement** are the baseline gate's verdicts against the run before.",
        "",
        "| # | commit | run folder |",
        "|---|---|---|",
        *(f"| {i} | `{r.sha[:12] or '?'}` | {r.path.name} |" for i, r in enumerate(trend.runs)),
    ]
    for figure in KEY_FIGURES:
        mine = points[points["metric"] == figure.metric]
        for scenario, endpoint in _groups(mine):
            here = mine[(mine["scenario"] == scenario) & (mine["endpoint"] == endpoint)]
            variants = _variants(here)
            lines += ["", f"## {figure.title} ({figure.unit}): {scenario}, {endpoint}", ""]
            lines += [f"| # | {' | '.join(variants)} |", "|---|" + "---|" * len(variants)]
            for i in sorted(set(here["run"])):
                cells = []
                for v in variants:
                    row = here[(here["run"] == i) & (here["variant"] == v)]
                    cells.append(_cell(row.iloc[0]) if len(row) else "")
                lines.append(f"| {i} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"
