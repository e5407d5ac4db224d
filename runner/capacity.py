"""`python -m runner.capacity` (`make capacity`): each variant's client and work capacity.

First the harness's own limit: GET /noop at rising rates, the highest whose starts stay on
schedule. Then per variant a ramp and a bisection of real runs (runner/run.py), each step
judged by analysis/capacity.py; the report is analysis/capacity_report.py's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console

from analysis.capacity import Plan, Search, Slos, Step, search
from analysis.capacity_report import write_report
from analysis.capacity_steps import HARNESS_SCENARIO, STEP_SCENARIO, Window, measure_step
from analysis.capacity_steps import harness_points as noop_points
from analysis.metrics.load import load_run
from core.processes import raise_open_files
from core.scenarios import BY_NAME, Scenario
from core.settings import PROJECT_ROOT, Settings
from loadtests.pacing import OPEN_FILES_WANTED
from runner.arguments import Parser, above_zero, count, positive, settings_from_env
from runner.children import StackError, UsageError
from runner.generator import LATE_COUNT_FLAG, LATE_SHARE_FLAG
from runner.meta import new_meta, write_meta
from runner.options import BenchOptions, parse_variants
from runner.results import new_run_dir
from runner.run import Runner
from runner.signals import Interrupted, ignoring_signals, raising_on_signals
from runner.stack import StackOptions, start_stack

HARNESS_RATES = (50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)
HARNESS_STAGE_S = 3.0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m runner.capacity", description=__doc__)
    p.add_argument(
        "--variants", default="", help="comma-separated, or all (default: sync,delegated)"
    )
    p.add_argument("--scenario", default="steady", help="whose provider and load (default steady)")
    p.add_argument("--slo-p99-ms", type=above_zero, default=100.0, help="client p99 SLO")
    p.add_argument("--work-slo-s", type=above_zero, default=10.0, help="request -> email p99 SLO")
    p.add_argument("--step-s", type=above_zero, default=10.0, help="seconds of load per step")
    p.add_argument("--start-rps", type=above_zero, default=25.0, help="the ramp's first rate")
    p.add_argument("--factor", type=above_zero, default=2.0, help="the ramp's growth per step")
    p.add_argument("--max-rps", type=above_zero, default=HARNESS_RATES[-1], help="no step above")
    p.add_argument("--precision", type=above_zero, default=0.15, help="bisect to this bracket")
    p.add_argument("--max-bisections", type=count, default=3, help="per knee")
    p.add_argument("--harness-stage-s", type=above_zero, default=HARNESS_STAGE_S)
    p.add_argument("--locust-processes", type=positive, default=1, metavar="N")
    p.add_argument("--workers", type=positive, default=1, help="per queue variant")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--label", default="capacity")
    p.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results")
    return p


def step_scenario(base: Scenario, rate: float, duration_s: float) -> Scenario:
    """One step: the base scenario's provider, work env and options at one fixed rate."""
    return replace(
        base,
        name=STEP_SCENARIO,
        duration_s=duration_s,
        rate=rate,
        stages=(),
        timeline=(),
        worker_faults=(),
        server_faults=(),
        target_faults=(),
        users=max(base.users, int(rate)),
        about=f"capacity step: {base.name}'s load at {rate:g}/s",
    )


def harness_scenario(rates: list[float], stage_s: float) -> Scenario:
    return Scenario(
        HARNESS_SCENARIO,
        "noop",
        stage_s * len(rates),
        stages=tuple((stage_s, r) for r in rates),
        users=50,
        about="GET /noop at rising rates: the highest the generator starts on schedule",
    )


class Capacity:
    """The search over one stack: the harness's limit, then each variant's knees."""

    def __init__(self, runner: Runner, args: argparse.Namespace, console: Console) -> None:
        self.runner, self.args, self.console = runner, args, console
        self.record: dict[str, Any] = runner.meta["capacity"]
        self.window = Window(warmup_s=min(2.0, args.step_s / 4), tail_s=1.0)
        self.repeats: dict[str, int] = {}

    def show(self, text: str) -> None:
        self.console.log(text, markup=False)

    def harness_limit(self, variant: str) -> float:
        rates = [r for r in HARNESS_RATES if r < self.args.max_rps] + [self.args.max_rps]
        scenario = harness_scenario(rates, self.args.harness_stage_s)
        self.runner.run(scenario, variant, 0, lambda text: None)
        write_meta(self.runner.run_dir, self.runner.meta)
        run = load_run(self.runner.run_dir)
        stages = [(d, r) for d, r in scenario.stages]
        points = noop_points(run, variant, stages, self.window, (LATE_SHARE_FLAG, LATE_COUNT_FLAG))
        passed = [p["rate"] for p in points if p["ok"]]
        failed = [p["rate"] for p in points if not p["ok"]]
        limit = max((r for r in passed if not failed or r < min(failed)), default=0.0)
        self.record["harness"][variant] = {
            "stages": points,
            "limit_rps": limit,
            "failed_at_rps": min(failed) if failed else None,
            "locust_processes": self.args.locust_processes,
        }
        self.show(f"harness limit against {variant}'s /noop: {limit:g}/s ({points})")
        return limit

    def measure(self, variant: str) -> Callable[[float, str], Step]:
        base = BY_NAME[self.args.scenario]

        def step(rate: float, phase: str) -> Step:
            repeat = self.repeats[variant] = self.repeats.get(variant, -1) + 1
            entry = {"variant": variant, "repeat": repeat, "rate": rate, "phase": phase}
            self.record["steps"].append(entry)
            # A step the slope test could not call runs again, twice as long.
            length_s = self.args.step_s * (2 if phase == "longer" else 1)
            self.runner.run(step_scenario(base, rate, length_s), variant, repeat, lambda t: None)
            write_meta(self.runner.run_dir, self.runner.meta)
            measured = measure_step(load_run(self.runner.run_dir), variant, entry, self.window)
            self.show(
                f"{variant} {phase} {rate:g}/s: p99 {measured.p99_ms or 0:.0f} ms, errors"
                f" {measured.error_rate:.1%}, late {measured.late_share:.1%}, backlog slope"
                f" {measured.slope.per_s if measured.slope else 0:+.2f}/s, email p99"
                f" {measured.completion_p99_s or 0:.2f} s"
            )
            return measured

        return step

    def search(self, variant: str, limit: float) -> Search:
        plan = Plan(
            start_rps=min(self.args.start_rps, limit),
            factor=self.args.factor,
            limit_rps=limit,
            precision=self.args.precision,
            max_bisections=self.args.max_bisections,
            late_share=LATE_SHARE_FLAG,
            late_count=LATE_COUNT_FLAG,
        )
        slos = Slos(p99_ms=self.args.slo_p99_ms, work_s=self.args.work_slo_s)
        found = search(self.measure(variant), plan, slos)
        client, work = found.knees()
        self.show(f"{variant}: client {client.text()}, work {work.text()}")
        return found


def capacity(settings: Settings, args: argparse.Namespace) -> int:
    if args.scenario not in BY_NAME:
        raise UsageError(f"unknown scenario {args.scenario}: choose from {', '.join(BY_NAME)}")
    if BY_NAME[args.scenario].locustfile != "login":
        raise UsageError(f"{args.scenario} is not a login scenario: capacity measures logins")
    variants = parse_variants(args.variants)
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
    exits = ExitStack()
    data = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="capacity-data-")))
    # Every step replays the same seeded addresses: a per-address limit would answer the
    # later steps 429, so capacity is measured with it off (as LOGIN_PER_CLIENT_PER_MIN is).
    private = {
        "database_path": data / "bench.db",
        "tickets_dir": data / "tickets",
        "login_per_address_per_min": 0,
    }
    settings = settings.model_copy(update=private)
    try:
        run_dir = new_run_dir(args.results_dir, args.label)
    except OSError as exc:
        raise UsageError(f"cannot create a results folder in {args.results_dir} ({exc})") from None
    stack_options = StackOptions(
        variants=variants,
        provider_port=0,
        workers=args.workers,
        log_dir=run_dir / "logs",
        env=private,
    )
    options = BenchOptions(
        stack=stack_options,
        quick=True,  # a 1 s stop and a 20 s drain bound: every step pays them
        seed=args.seed,
        locust_processes=args.locust_processes,
        label=args.label,
        results_dir=args.results_dir,
    )
    meta = new_meta(
        label=args.label,
        settings=settings,
        warmup_s=min(2.0, args.step_s / 4),
        seed=args.seed,
        repeat=1,
        quick=False,
        stack=stack_options,
        locust_processes=args.locust_processes,
        scenarios=[BY_NAME[args.scenario].describe()],
        skipped=[],
        variants=variants,
    )
    meta["capacity"] = {
        "scenario": args.scenario,
        "slo_p99_ms": args.slo_p99_ms,
        "work_slo_s": args.work_slo_s,
        "step_s": args.step_s,
        "late_share": LATE_SHARE_FLAG,
        "late_count": LATE_COUNT_FLAG,
        "harness": {},
        "steps": [],
    }
    write_meta(run_dir, meta)
    console.print(f"results: {run_dir}")
    wall = time.monotonic()
    code, reason = 0, None
    runner: Runner | None = None
    try:
        with raising_on_signals():
            with console.status("starting the stack"):
                stack = start_stack(exits, settings, stack_options)
            runner = Runner(settings, stack, exits, run_dir, meta, options, console)
            search_ = Capacity(runner, args, console)
            limits = {v: search_.harness_limit(v) for v in variants}
            for variant in variants:
                if limits[variant] <= 0:
                    raise StackError(
                        f"the load generator fell behind at every /noop rate against {variant};"
                        " try --locust-processes 2 or a quieter machine"
                    )
                search_.search(variant, limits[variant])
    except Interrupted as exc:
        code, reason = exc.exit_code, f"interrupted by {exc}"
    except (StackError, redis.RedisError, httpx.HTTPError, OSError) as exc:
        code = exc.exit_code if isinstance(exc, StackError) else 1
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    finally:
        with ignoring_signals():
            if runner is not None:
                runner.close()
            exits.close()
            meta["finished_at"] = datetime.now(UTC).isoformat()
            meta["complete"], meta["incomplete_reason"] = code == 0, reason
            meta["wall_s"] = round(time.monotonic() - wall, 1)
            write_meta(run_dir, meta)
    if reason is not None:
        console.print(f"error: {reason}; partial results kept in {run_dir}", markup=False)
        return code
    table = write_report(run_dir)
    sys.stdout.write(table)
    console.print(f"finished in {meta['wall_s']}s: {run_dir}/capacity.md", markup=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_env()
    args = build_parser().parse_args(argv)
    raise_open_files(OPEN_FILES_WANTED)
    try:
        return capacity(settings, args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
