"""Charts of the ticket job's lesson: completion against seats, work per seat, a stalled worker."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis.report.charts import marker, new_figure
from core.contracts import FAN_OUT, JOB_DESIGNS, MONOLITHIC, MONOLITHIC_NO_TIMEOUT

DESIGN_COLORS = {FAN_OUT: "#009E73", MONOLITHIC: "#D55E00", MONOLITHIC_NO_TIMEOUT: "#CC79A7"}


# One run of a timeline: its name, queue samples (with `second`), job starts and stalls (s).
Timeline = tuple[str, pd.DataFrame, pd.Series, list[tuple[float, float]]]


def _design_order(design: object) -> int:
    names: tuple[str, ...] = JOB_DESIGNS
    return names.index(str(design)) if design in names else len(names)


def plot_completion_vs_seats(orders: pd.DataFrame, title: str) -> Figure:
    """One point per order sold: seats against payment -> tickets email; orders that never
    completed sit in a band above the dashed line, marked x."""
    fig, (ax,) = new_figure(height=4.8)
    done_s = orders.loc[orders["fate"] == "completed", "completion_s"]
    top = float(done_s.max()) if done_s.notna().any() else 1.0
    series = orders.groupby(["design", "variant"], sort=False)
    for (design, variant), mine in sorted(series, key=lambda kv: _design_order(kv[0][0])):
        done = mine[mine["fate"] == "completed"]
        never = mine[mine["fate"] != "completed"]
        tint = DESIGN_COLORS.get(str(design), "#555555")
        shape = marker(str(variant))
        label = f"{design} ({variant}): {len(done)} completed"
        ax.scatter(done["seats"], done["completion_s"], s=18, color=tint, marker=shape, label=label)
        if len(never):
            band = top * (1.12 + 0.05 * _design_order(design))
            ax.scatter(
                never["seats"],
                [band] * len(never),
                s=30,
                color=tint,
                marker="x",
                label=f"{design} ({variant}): {len(never)} never completed",
            )
    ax.axhline(top * 1.07, color="#333333", lw=0.8, ls="--")
    ax.text(0.005, top * 1.08, "never completed", transform=ax.get_yaxis_transform(), fontsize=8)
    ax.set_ylim(0, top * 1.3)
    ax.set_xlabel("seats in the order")
    ax.set_ylabel("payment to tickets email (s)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left")
    fig.suptitle(title)
    return fig


def plot_work_ratio(tickets: pd.DataFrame, title: str) -> Figure:
    """Ticket programs started per seat sold, one bar per scenario x variant."""
    rows = tickets[tickets["work_ratio"].notna()].iloc[::-1]
    fig, (ax,) = new_figure(height=max(2.5, 0.45 * len(rows) + 1.2))
    fig.subplots_adjust(left=0.37)  # room for the scenario names
    names = [f"{s} ({v})" for s, v in zip(rows["scenario"], rows["variant"], strict=True)]
    colors = [DESIGN_COLORS.get(str(d), "#555555") for d in rows["design"]]
    ax.barh(names, rows["work_ratio"], color=colors)
    for y, (ratio, wasted, unfinished) in enumerate(
        zip(rows["work_ratio"], rows["tickets_wasted"], rows["orders_unfinished"], strict=True)
    ):
        note = f"{ratio:.2f}x, {int(wasted)} thrown away"
        if unfinished:
            note += f", {int(unfinished)} orders unfinished"
        ax.text(ratio, y, f" {note}", va="center", fontsize=8)
    ax.axvline(1.0, color="#333333", lw=1, ls="--")
    ax.set_xlabel("ticket programs started / seats sold (1 = no wasted work)")
    ax.set_xlim(0, max(1.5, float(rows["work_ratio"].max() or 1) * 1.6))
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(title)
    return fig


def plot_stall_timeline(
    runs: list[tuple[str, pd.DataFrame, pd.Series, list[tuple[float, float]]]], title: str
) -> Figure:
    """Per run (name, queue samples with `second`, job start seconds, stall spans in seconds):
    the queue's ready and in-progress jobs, each job start as a tick, stalls shaded."""
    fig, axes = new_figure(len(runs), 1, height=2.8)
    for ax, (name, samples, starts, spans) in zip(axes, runs, strict=True):
        # As the stall is measured: arq counts its running jobs as ready too.
        waiting = (samples["ready"].fillna(0) - samples["in_progress"].fillna(0)).clip(lower=0)
        ax.plot(samples["second"], waiting, color="#0072B2", lw=1.4, label="jobs waiting")
        ax.plot(
            samples["second"],
            samples["in_progress"],
            color="#555555",
            lw=1.0,
            ls="--",
            label="in progress",
        )
        ax.plot(starts, [0] * len(starts), "|", color="#009E73", ms=10, label="a job starts")
        if starts.empty:
            ax.text(0.5, 0.5, "no job ever ended", transform=ax.transAxes, ha="center")
        for i, (a, b) in enumerate(spans):
            ax.axvspan(
                a,
                b,
                color="#D55E00",
                alpha=0.25,
                lw=0,
                label="stalled: jobs waiting, none starts" if i == 0 else None,
            )
        stalled = sum(b - a for a, b in spans)
        ax.set_title(f"{name}: stalled {stalled:.0f} s", loc="left", fontsize=10)
        ax.set_ylabel("jobs")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("time since run start (s)")
    fig.suptitle(title)
    return fig
