"""Which charts a run gets, and writing them to charts/*.png."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from analysis.metrics import series
from analysis.metrics.compute import Metrics, primary_endpoints
from analysis.metrics.load import Run
from analysis.metrics.stats import min_support
from analysis.metrics.system import queue_series
from analysis.names import AnalysisSettings
from analysis.report import charts


@dataclass(frozen=True)
class Chart:
    scenario: str | None  # None: a chart across scenarios
    file: str  # relative to the run folder
    title: str


@dataclass(frozen=True)
class Job:
    scenario: str | None
    name: str
    plot: Callable[..., Figure]
    args: tuple[Any, ...]


def write_charts(
    run: Run, metrics: Metrics, settings: AnalysisSettings, out_dir: Path, processes: int = 2
) -> list[Chart]:
    """Render every chart; rendering dominates, so it is spread over `processes` processes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    jobs = chart_jobs(run, metrics, settings)
    paths = [str(out_dir / job.name) for job in jobs]
    if processes > 1 and len(jobs) > 4 and "fork" in mp.get_all_start_methods():
        with mp.get_context("fork").Pool(processes) as pool:
            titles = pool.starmap(_render, zip(jobs, paths, strict=True), chunksize=1)
    else:
        titles = [_render(job, path) for job, path in zip(jobs, paths, strict=True)]
    return [
        Chart(job.scenario, f"{out_dir.name}/{job.name}", title)
        for job, title in zip(jobs, titles, strict=True)
    ]


def _render(job: Job, path: str) -> str:
    figure = job.plot(*job.args)
    figure.savefig(path)
    return figure.get_suptitle() or figure.axes[0].get_title()


def chart_jobs(run: Run, metrics: Metrics, settings: AnalysisSettings) -> list[Job]:
    """The charts a run gets, each with the small frame it is drawn from."""
    jobs: list[Job] = []
    seconds = series.per_second(metrics.requests)
    queue = queue_series(run.queue_samples, run.runs)
    primary = primary_endpoints(metrics.results)
    warmup = settings.warmup_s
    for scenario, endpoint in primary.items():
        windows = run.windows[run.windows["scenario"] == scenario]
        mine = seconds[(seconds["scenario"] == scenario) & (seconds["endpoint"] == endpoint)]
        what = f"{scenario}: {endpoint}"
        jobs += [
            Job(
                scenario,
                f"latency-over-time-{scenario}.png",
                charts.plot_latency_over_time,
                (mine, windows, warmup, f"{what} latency per second"),
            ),
            Job(
                scenario,
                f"latency-spectrum-{scenario}.png",
                charts.plot_spectrum,
                (
                    series.spectrum(metrics.trimmed, scenario, endpoint),
                    f"{what} latency by percentile (after warm-up)",
                ),
            ),
            Job(
                scenario,
                f"throughput-errors-{scenario}.png",
                charts.plot_throughput_errors,
                (mine, windows, warmup, f"{what} throughput and errors per second"),
            ),
        ]
        waits = series.wait_distributions(metrics.trimmed, metrics.ledger, scenario, endpoint)
        if (waits["series"] == "email accepted").any():
            jobs.append(
                Job(
                    scenario,
                    f"completion-{scenario}.png",
                    charts.plot_wait,
                    (waits, f"{what}: client answer vs email accepted (delegation moves the wait)"),
                )
            )
        depth = queue[queue["scenario"] == scenario]
        if len(depth) and float(depth[["depth", "in_progress"]].to_numpy().max()) > 0:
            jobs.append(
                Job(
                    scenario,
                    f"queue-{scenario}.png",
                    charts.plot_queue,
                    (depth, windows, f"{scenario}: job queue over time"),
                )
            )
        if scenario == "spike":
            jobs.append(
                Job(
                    scenario,
                    "latency-vs-load-spike.png",
                    charts.plot_latency_vs_load,
                    (
                        mine[mine["second"] >= warmup],
                        f"{what} latency against offered load, one point per second",
                    ),
                )
            )
    if primary:
        jobs.append(
            Job(
                None,
                "summary.png",
                charts.plot_summary,
                (summary_table(metrics.results, primary), "All scenarios at a glance"),
            )
        )
    enumeration = metrics.enumeration
    if len(enumeration):
        names = enumeration["scenario"].tolist()
        scenario = "steady" if "steady" in names else str(names[0])
        mine = enumeration[enumeration["scenario"] == scenario]
        aucs = {str(v): float(a) for v, a in zip(mine["variant"], mine["auc"], strict=True)}
        jobs.append(
            Job(
                None,
                "enumeration.png",
                charts.plot_enumeration,
                (
                    series.enumeration_distributions(metrics.trimmed, scenario),
                    aucs,
                    f"{scenario}: can login timing tell registered from unknown addresses? "
                    "(AUC 0.5 = no)",
                ),
            )
        )
    return jobs


def summary_table(results: pd.DataFrame, primary: dict[str, str]) -> pd.DataFrame:
    rows = pd.concat(
        [
            results[(results["scenario"] == s) & (results["endpoint"] == e)]
            for s, e in primary.items()
        ]
    )
    p99 = min_support(0.99)
    return rows.assign(
        not_delivered=rows["lost"].fillna(0) + rows["dead_lettered"].fillna(0),
        thin_p99_ms=rows["latency_requests"].fillna(0) < p99,
        thin_completion_p99_ms=rows["delivered"].fillna(0) < p99,
    )
