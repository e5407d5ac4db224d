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
from analysis.metrics.compute import Metrics, primary_endpoints, scenario_order
from analysis.metrics.load import Run
from analysis.metrics.phases import work_phases
from analysis.metrics.stats import min_support
from analysis.metrics.system import queue_series
from analysis.metrics.tickets import design_of
from analysis.metrics.timing import str_keys
from analysis.names import RUN, AnalysisSettings
from analysis.report import charts, ticket_charts, trace_charts
from analysis.traces import SpanRecord, read_spans
from core.contracts import FAN_OUT, TRACES_DIR

OUTAGE = "outage"  # the scenario whose slowest works get a waterfall each


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
    jobs += ticket_jobs(run, metrics)
    jobs += trace_jobs(run)
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


def trace_jobs(run: Run) -> list[Job]:
    """From a traced run's spans: where delivered work's time went, per variant; the outage's
    three slowest works of each variant as waterfalls."""
    spans = read_spans(run.path / TRACES_DIR)
    if not spans:
        return []
    works = run.requests[["work_id", "scenario", "variant"]].astype(str)
    works = works[works["work_id"] != ""].drop_duplicates("work_id")
    delivered = set(run.deliveries["work_id"].astype(str))
    phases = work_phases(spans).merge(works, on="work_id")
    phases = phases[phases["work_id"].isin(delivered)]
    jobs = []
    for variant, mine in phases.groupby("variant", sort=False):
        title = f"{variant}: where the time went, delivered work (from its traces)"
        jobs.append(Job(None, f"phases-{variant}.png", trace_charts.plot_phases, (mine, title)))
    by_trace: dict[str, list[SpanRecord]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for variant, mine in phases[phases["scenario"] == OUTAGE].groupby("variant", sort=False):
        slowest = mine.nlargest(3, "total")
        panels = [
            (f"{work_id}: {total:.2f} s to the email", by_trace[str(trace_id)])
            for trace_id, work_id, total in slowest[["trace_id", "work_id", "total"]].itertuples(
                index=False
            )
        ]
        title = f"{OUTAGE} ({variant}): the three slowest works"
        name = f"waterfall-{OUTAGE}-{variant}.png"
        jobs.append(Job(OUTAGE, name, trace_charts.plot_waterfall, (panels, title)))
    return jobs


def family(scenario: str, design: str) -> str:
    """The scenario a job design's row was made from (big-orders-monolithic -> big-orders)."""
    return scenario.removesuffix(f"-{design}") if design != FAN_OUT else scenario


def ticket_jobs(run: Run, metrics: Metrics) -> list[Job]:
    """Per scenario family with orders: completion against seats and a timeline of its runs
    (a stalled worker); across them, the ticket work per seat sold."""
    if metrics.orders.empty:
        return []
    designs = design_of(run.meta)
    orders = metrics.orders.assign(design=metrics.orders["scenario"].map(designs).fillna(FAN_OUT))
    orders["family"] = [
        family(s, d) for s, d in zip(orders["scenario"], orders["design"], strict=True)
    ]
    jobs = []
    for name, mine in orders.groupby("family", sort=False):
        jobs.append(
            Job(
                None,
                f"tickets-completion-{name}.png",
                ticket_charts.plot_completion_vs_seats,
                (
                    mine,
                    f"{name}: payment to tickets email against the order's seats, per job design",
                ),
            )
        )
        timeline = stall_runs(run, metrics, sorted(mine["scenario"].unique(), key=scenario_order))
        if timeline:
            jobs.append(
                Job(
                    None,
                    f"tickets-timeline-{name}.png",
                    ticket_charts.plot_stall_timeline,
                    (timeline, f"{name}: the queue and the worker's job starts, per job design"),
                )
            )
    tickets = metrics.tickets.assign(
        design=metrics.tickets["scenario"].map(designs).fillna(FAN_OUT)
    )
    if tickets["work_ratio"].notna().any():
        jobs.append(
            Job(
                None,
                "tickets-work.png",
                ticket_charts.plot_work_ratio,
                (tickets, "Ticket work done / needed, per scenario and job design"),
            )
        )
    return jobs


def stall_runs(run: Run, metrics: Metrics, scenarios: list[str]) -> list[ticket_charts.Timeline]:
    """The first repeat of each scenario x queue variant, in seconds from its t0."""
    out = []
    jobs, samples = str_keys(run.jobs), str_keys(run.queue_samples)
    runs = str_keys(run.runs).set_index(RUN)["t0"]
    for stall in metrics.stalls.to_dict("records"):
        key = (str(stall["scenario"]), str(stall["variant"]), int(stall["repeat"]))
        mine = jobs[_of_run(jobs, key)]
        if key[0] not in scenarios or key[2] != 0:
            continue
        queue = samples[_of_run(samples, key)].sort_values("t")
        t0 = float(runs.get(key, queue["t"].min()))
        spans = [(a - t0, b - t0) for a, b in stall["spans"]]
        name = f"{key[0]} ({key[1]})"
        out.append((name, queue.assign(second=queue["t"] - t0), mine["started_at"] - t0, spans))
    return sorted(out, key=lambda r: scenarios.index(r[0].split(" ")[0]))


def _of_run(frame: pd.DataFrame, key: tuple[str, str, int]) -> pd.Series:
    return (
        (frame["scenario"] == key[0]) & (frame["variant"] == key[1]) & (frame["repeat"] == key[2])
    )


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
