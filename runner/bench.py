"""`python -m runner bench`: each scenario against each chosen variant, one at a time (a
quick run: the variants of a login scenario side by side).

The floor first (runner/floor.py), then every scenario x variant x repeat (runner/run.py), then
the analysis's report and the closing table.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from core.contracts import FAN_OUT, TRACES_DIR
from core.db import describe_database, open_store
from core.scenarios import Scenario, UnknownScenario, choose
from core.settings import Settings
from queues import has_workers, needs_database
from runner.children import ChildDied, StackError, UsageError, first_dead
from runner.floor import floor_rates
from runner.meta import new_meta, write_meta
from runner.options import BenchOptions, by_work_env, run_order, together
from runner.results import new_run_dir, point_latest
from runner.run import LOOP_S, Runner
from runner.signals import Interrupted, ignoring_signals, raising_on_signals
from runner.stack import Stack, start_stack
from runner.table import SummaryError, read_summary, render_table

PROGRESS_COLUMNS = (
    SpinnerColumn(),
    TextColumn("{task.description}"),
    BarColumn(),
    TextColumn("{task.completed}/{task.total}"),
    TimeElapsedColumn(),
)
QUICK_MAX_SEATS = 8  # quick webhook runs: fewer ticket subprocesses on a small machine
REPORT_TIMEOUT_S = 300.0
DEATH_GRACE_S = 1.0
# Timed runs are traced unless TRACING says otherwise: every request only if `make perf` finds
# that full tracing costs the login at most 3% of its peak rate, else a sampled share. Full
# tracing costs about 70% (docs/traces.md): a share, 10% of requests, at most 5 a second per
# target. Below 50 requests a second (the scenarios' usual rates) the cap never binds; a target
# driven to its peak traces 5 a second, which the login's peak rate hardly notices.
# TRACE_SAMPLE_RATIO (with TRACE_MAX_PER_S, else uncapped) overrides them.
TRACED_SHARE = 0.1
TRACED_MAX_PER_S = 5.0


def chosen(
    options: BenchOptions, settings: Settings
) -> tuple[list[Scenario], list[dict[str, str]]]:
    """The scenarios to run, and those skipped with the reason."""
    try:
        scenarios = choose(options.scenarios, options.quick, options.duration_s)
    except UnknownScenario as exc:
        raise UsageError(str(exc)) from None
    skipped = design_blind(scenarios, options.variants)
    # The runner can fail only the servers it started itself.
    unowned = unowned_servers(settings, options.variants)
    for scenario in [s for s in scenarios if s.faulted_servers & set(unowned)]:
        reasons = [unowned[server] for server in sorted(scenario.faulted_servers & set(unowned))]
        skipped.append({"scenario": scenario.name, "reason": "; ".join(reasons)})
        scenarios.remove(scenario)
    if not scenarios:
        raise UsageError(
            "every chosen scenario fails a server the runner cannot: "
            + "; ".join(sorted({s["reason"] for s in skipped}))
        )
    return scenarios, skipped


def unowned_servers(settings: Settings, variants: tuple[str, ...]) -> dict[str, str]:
    """The servers this run will not start itself, each with why a scenario cannot fail it."""
    out = {}
    if settings.redis_url:
        out["redis"] = "REDIS_URL points at a Redis the runner cannot stop, restart or pause"
    if settings.database_url:
        out["postgres"] = "DATABASE_URL points at a PostgreSQL the runner cannot stop or pause"
    elif not needs_database(variants):
        out["postgres"] = (
            "no variant of the run keeps its queue in the database, so the runner starts no"
            " PostgreSQL to fail (add VARIANTS=procrastinate, or all)"
        )
    return out


def design_blind(scenarios: list[Scenario], variants: tuple[str, ...]) -> list[dict[str, str]]:
    """A job design's rows are not run by variants that ignore the design (run_order skips
    them): they would repeat the fan-out row."""
    return [
        {
            "scenario": s.name,
            "variant": v,
            "reason": f"{v} makes tickets in its own process: the job design does not apply",
        }
        for s in scenarios
        if s.job_design != FAN_OUT
        for v in variants
        if not has_workers(v)
    ]


def bench(settings: Settings, options: BenchOptions) -> int:
    scenarios, skipped = chosen(options, settings)
    if settings.database_url:
        open_store(settings).close()  # a DATABASE_URL that cannot be used fails before anything
    # Piped output (CI logs) gets a wide table, not rich's default of 80 columns.
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    exits = ExitStack()
    if not options.external:
        # A private data set, so a bench never fights `make serve` over var/bench.db.
        data = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-data-")))
        settings = settings.model_copy(
            update={"database_path": data / "bench.db", "tickets_dir": data / "tickets"}
        )
    if options.quick:
        settings = settings.model_copy(
            update={"max_seats": min(settings.max_seats, QUICK_MAX_SEATS)}
        )
    settings = traced(settings)
    label = options.label or ("quick" if options.quick else "bench")
    try:
        run_dir = new_run_dir(options.results_dir, label)
    except OSError as exc:
        raise UsageError(
            f"cannot create a results folder in {options.results_dir} ({exc.strerror or exc});"
            " choose another with --results-dir"
        ) from None
    meta = new_meta(
        label=label,
        settings=settings,
        warmup_s=options.warmup_s,
        seed=options.seed,
        repeat=options.repeat,
        quick=options.quick,
        side_by_side=options.side_by_side,
        stack=options.stack,
        locust_processes=options.locust_processes,
        expect_workers=options.expect_workers,
        variants=options.variants,
        scenarios=[s.describe() for s in scenarios],
        skipped=skipped,
    )
    write_meta(run_dir, meta)
    console.print(f"results: {run_dir}")
    for skip in skipped:
        where = f"{skip['scenario']} x {skip['variant']}" if "variant" in skip else skip["scenario"]
        console.print(f"note: skipped {where}: {skip['reason']}", markup=False)
    stack_options = replace(
        options.stack,
        log_dir=options.log_dir or run_dir / "logs",
        env={
            "database_path": settings.database_path,
            "tickets_dir": settings.tickets_dir,
            "max_seats": settings.max_seats,
            "tracing": settings.tracing,
            "trace_sample_ratio": settings.trace_sample_ratio,
            "trace_max_per_s": settings.trace_max_per_s,
            "trace_dir": run_dir / TRACES_DIR,
        },
        work_env=dict(by_work_env(scenarios)[0].work_env) if scenarios else {},
    )
    wall = time.monotonic()
    code, reason = 0, None
    runner: Runner | None = None
    try:
        with raising_on_signals():
            with console.status("starting the stack"):
                stack = start_stack(exits, settings, stack_options)
            settings = stack.settings  # with the embedded PostgreSQL's URL, when it started one
            meta["database"] = describe_database(settings)
            meta["stack"] = {
                "pids": stack.pids(),
                "urls": dict(stack.target_urls),
                "provider_url": stack.provider_url,
            }
            write_meta(run_dir, meta)
            runner = Runner(settings, stack, exits, run_dir, meta, options, console)
            order = list(run_order(scenarios, options.repeat, options.variants, options.quick))
            groups = list(together(order, scenarios, options.side_by_side))
            by_name = {s.name: s for s in scenarios}
            floors = list(options.variants) if options.floor else []
            rates = floor_rates(by_name[name] for name in dict.fromkeys(n for n, _, _ in order))
            with Progress(*PROGRESS_COLUMNS, console=console, transient=True) as progress:
                task = progress.add_task("", total=len(floors) + len(groups))

                def show(text: str) -> None:
                    progress.update(task, description=text)

                # `latest` moves once the run has measured something: a bench that fails
                # to start leaves it on the last run that has results.
                for variant in floors:
                    runner.floor(variant, rates, show)
                    write_meta(run_dir, meta)
                    point_latest(options.results_dir, run_dir)
                    progress.advance(task)
                for name, variants, repeat in groups:
                    runner.run_side_by_side(by_name[name], variants, repeat, show)
                    write_meta(run_dir, meta)
                    point_latest(options.results_dir, run_dir)
                    progress.advance(task)
    except Interrupted as exc:
        code, reason = exc.exit_code, f"interrupted by {exc}"
    except (StackError, redis.RedisError, httpx.HTTPError, OSError) as exc:
        error = explain(exc, runner.stack if runner is not None else None)
        code, reason = error.exit_code, str(error)
        if isinstance(error, ChildDied) and (error.child.returncode or 0) > 0:
            for line in error.tail:  # it failed on its own: its last words say why
                console.print(f"  {line}", markup=False, highlight=False)
    finally:
        with ignoring_signals():
            if runner is not None:
                runner.close()
            exits.close()
            meta["finished_at"] = datetime.now(UTC).isoformat()
            meta["complete"] = code == 0
            meta["incomplete_reason"] = reason
            meta["wall_s"] = round(time.monotonic() - wall, 1)
            write_meta(run_dir, meta)
    if reason is not None:
        console.print(
            f"error: {reason}; partial results kept in {run_dir} (incomplete)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return code
    console.print(f"finished in {meta['wall_s']}s: {run_dir}")
    if not options.report:
        console.print(f"no report (--no-report): `python -m analysis report {run_dir}` builds it")
    elif report(run_dir, console):
        show_table(run_dir, console)
    return 0


def explain(exc: BaseException, stack: Stack | None) -> StackError:
    """The error to report: a child that died is the cause of the Redis or HTTP error it caused."""
    if isinstance(exc, ChildDied):
        return exc
    if stack is not None:
        # A killed server's socket may close a moment before its exit is visible to poll().
        deadline = time.monotonic() + DEATH_GRACE_S
        while True:
            dead = first_dead(stack.children.values())
            if dead is not None:
                return ChildDied(dead)
            if time.monotonic() > deadline:
                break
            time.sleep(LOOP_S)
    if isinstance(exc, StackError):
        return exc
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return StackError(f"{type(exc).__name__}: {first}")


def traced(settings: Settings) -> Settings:
    """The run's tracing: what the environment set, else on at TRACED_SHARE, capped at
    TRACED_MAX_PER_S."""
    chosen = settings.model_fields_set
    update: dict[str, object] = {"tracing": settings.tracing if "tracing" in chosen else True}
    if "trace_sample_ratio" not in chosen:
        update["trace_sample_ratio"] = TRACED_SHARE
        if "trace_max_per_s" not in chosen:
            update["trace_max_per_s"] = TRACED_MAX_PER_S
    return settings.model_copy(update=update)


def report(run_dir: Path, console: Console) -> bool:
    """`python -m analysis report RUN_DIR`: summary.json, report.md, report.html and charts."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(run_dir)],
            timeout=REPORT_TIMEOUT_S,
            capture_output=True,
            text=True,
        )
    except subprocess.TimeoutExpired:
        console.print(f"`python -m analysis report` took over {REPORT_TIMEOUT_S:.0f}s: skipped")
        return False
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        console.print(f"`python -m analysis report` failed ({last}); raw results are complete")
        return False
    console.print(f"report: {run_dir / 'report.md'}")
    return True


def show_table(run_dir: Path, console: Console) -> None:
    """The closing table: the report's own numbers (warm-up trimmed), so the two agree."""
    try:
        summary = read_summary(run_dir / "summary.json")
    except SummaryError as exc:
        console.print(f"no table: {exc}", markup=False)
        return
    console.print(render_table(summary))
