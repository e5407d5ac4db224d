"""Command line: `python -m analysis report|check|reliability|export|capacity [RUN_DIR]` and
`python -m analysis trend RESULTS`; the only module that prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.table import Table

from analysis.capacity_report import write_report
from analysis.export import FORMATS, export
from analysis.gate.baseline import compare
from analysis.gate.junit import write_junit
from analysis.gate.thresholds import Check, GateError, Names, evaluate, parse_thresholds, run_checks
from analysis.metrics.load import RunError, load_run, read_meta, resolve_run_dir
from analysis.metrics.reliability import find_fuzz, read_fuzz, reliability_rows
from analysis.metrics.summary_json import current_summary
from analysis.metrics.work import work_ledger
from analysis.names import settings_for
from analysis.report.build import build_report
from analysis.report.reliability import render_markdown as render_reliability
from analysis.trend import load_trend
from analysis.trend_report import write_trend

DEFAULT_RUN = Path("results/latest")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MIN_EFFECT, MAX_CHANGE = 0.10, 0.20  # the baseline gate's, for `check` and `trend` alike


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="python -m analysis", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    report = commands.add_parser("report", help="rebuild summary.json, charts and reports")
    report.add_argument("run_dir", nargs="?", type=Path, default=DEFAULT_RUN)
    report.add_argument(
        "--warmup-s",
        type=float,
        help="seconds trimmed from each run's start "
        "for latency metrics (default: meta settings.warmup_s, else 5)",
    )
    report.add_argument(
        "--late-ms", type=float, help="a start later than this is late (default 10)"
    )
    report.add_argument("--processes", type=int, default=2, help="chart rendering processes")
    capacity = commands.add_parser(
        "capacity", help="rebuild a capacity run's summary.json, capacity.md and chart"
    )
    capacity.add_argument("run_dir", type=Path)
    check = commands.add_parser("check", help="gate a run against thresholds and a baseline")
    check.add_argument("run_dir", nargs="?", type=Path, default=DEFAULT_RUN)
    check.add_argument("--thresholds", type=Path, default=Path("thresholds.txt"))
    check.add_argument("--baseline", type=Path, help="a run to compare with")
    check.add_argument("--junit", type=Path, help="write JUnit XML here")
    check.add_argument(
        "--min-effect",
        type=float,
        default=MIN_EFFECT,
        help="smallest relative change that counts, with repetitions",
    )
    check.add_argument(
        "--max-change",
        type=float,
        default=MAX_CHANGE,
        help="relative change that counts, with one run each",
    )
    reliability = commands.add_parser(
        "reliability", help="print the reliability table (markdown) of a run"
    )
    reliability.add_argument("run_dir", nargs="?", type=Path, default=DEFAULT_RUN)
    reliability.add_argument(
        "--fuzz",
        type=Path,
        help="fuzz results to add: the output of `python -m fuzzing` (its table, or JSON);"
        " default: fuzz.json or fuzz.txt in the run folder, if there",
    )
    _ci_commands(commands)
    return top


def _ci_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    exporter = commands.add_parser("export", help="a run's key figures for a dashboard, as JSON")
    exporter.add_argument("run_dir", nargs="?", type=Path, default=DEFAULT_RUN)
    exporter.add_argument(
        "--format",
        required=True,
        choices=sorted(FORMATS),
        help="github-smaller / github-bigger: github-action-benchmark's customSmallerIsBetter /"
        " customBiggerIsBetter; bencher: the Bencher Metric Format",
    )
    exporter.add_argument("--output", type=Path, help="write here (default: standard output)")
    trend = commands.add_parser("trend", help="key figures across runs, in commit order")
    trend.add_argument("results", type=Path, help="a folder of run folders")
    trend.add_argument("--out", type=Path, help="where to write (default: RESULTS/trend)")
    trend.add_argument(
        "--repo", type=Path, default=Path("."), help="the git repository of the runs' commits"
    )


def main(argv: list[str] | None = None) -> int:
    # Off a terminal (CI logs), rich would wrap the table at 80 columns.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    errors = Console(stderr=True, highlight=False)
    try:
        args = parser().parse_args(argv)
        if args.command == "report":
            return _report(args, console)
        if args.command == "reliability":
            return _reliability(args)
        if args.command == "export":
            return _export(args, console)
        if args.command == "trend":
            return _trend(args, console)
        if args.command == "capacity":
            return _capacity(args)
        return _check(args, console)
    except (UsageError, RunError, GateError) as exc:
        errors.print(f"analysis: error: {exc}", markup=False, soft_wrap=True)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK


def _report(args: argparse.Namespace, console: Console) -> int:
    run_dir = resolve_run_dir(args.run_dir)
    if not run_dir.is_dir():
        raise RunError(f"no results folder at {run_dir}")
    meta = read_meta(run_dir)
    if "capacity" in meta:  # a capacity run's steps are no scenarios: its own report
        sys.stdout.write(write_report(run_dir))
        return EXIT_OK
    settings = settings_for(meta, warmup_s=args.warmup_s, late_threshold_ms=args.late_ms)
    summary = build_report(run_dir, settings, processes=args.processes)
    console.print(f"wrote {run_dir}/summary.json, report.md, report.html and charts/", markup=False)
    for variant, v in summary["enumeration"]["verdicts"].items():
        console.print(f"enumeration, {variant}: {v['verdict']}", markup=False)
    return EXIT_OK


def _capacity(args: argparse.Namespace) -> int:
    run_dir = resolve_run_dir(args.run_dir)
    if "capacity" not in read_meta(run_dir):
        raise RunError(f"{run_dir} is not a capacity run (`make capacity` makes one)")
    sys.stdout.write(write_report(run_dir))
    return EXIT_OK


def _reliability(args: argparse.Namespace) -> int:
    run_dir = resolve_run_dir(args.run_dir)
    if not run_dir.is_dir():
        raise RunError(f"no results folder at {run_dir}")
    if args.fuzz is not None and not args.fuzz.is_file():
        raise UsageError(f"no fuzz results at {args.fuzz}")
    fuzz_path = args.fuzz or find_fuzz(run_dir)
    fuzz = read_fuzz(fuzz_path) if fuzz_path is not None else None
    run = load_run(run_dir)
    ledger = work_ledger(run.requests, run.deliveries, run.dead_letters, run.pending)
    rows = reliability_rows(run, ledger)
    # Plain print: a markdown table must not be wrapped or styled by rich.
    sys.stdout.write(render_reliability(rows, fuzz))
    return EXIT_OK


def _export(args: argparse.Namespace, console: Console) -> int:
    run_dir = resolve_run_dir(args.run_dir)
    if not run_dir.is_dir():
        raise RunError(f"no results folder at {run_dir}")
    exported = export(current_summary(run_dir), args.format)
    if not exported:
        raise RunError(f"{run_dir} has no figure to export in the {args.format} format")
    text = json.dumps(exported, indent=2, allow_nan=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        args.output.write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output} ({exc.strerror})") from None
    console.print(f"wrote {args.output}", markup=False)
    return EXIT_OK


def _trend(args: argparse.Namespace, console: Console) -> int:
    trend = load_trend(args.results, repo=args.repo, min_effect=MIN_EFFECT, max_change=MAX_CHANGE)
    written = write_trend(trend, args.out or args.results / "trend")
    console.print(
        f"{len(trend.runs)} runs in {trend.order} order; wrote "
        + ", ".join(str(p) for p in written),
        markup=False,
    )
    return EXIT_OK


def _check(args: argparse.Namespace, console: Console) -> int:
    run_dir = resolve_run_dir(args.run_dir)
    if not run_dir.is_dir():
        raise RunError(f"no results folder at {run_dir}")
    try:
        text = args.thresholds.read_text()
    except OSError as exc:
        raise UsageError(
            f"cannot read thresholds file {args.thresholds} ({exc.strerror})"
        ) from None
    if (run_dir / "meta.json").exists():
        read_meta(run_dir)  # a damaged run folder is refused even when its summary reads well
    summary = current_summary(run_dir)
    thresholds = parse_thresholds(text, Names.known(summary), str(args.thresholds))
    checks = run_checks(summary) + evaluate(thresholds, summary)
    if thresholds and all(c.status == "skip" for c in checks[1:]):
        raise GateError(
            f"no threshold in {args.thresholds} applies to {run_dir}: nothing was checked"
        )
    if args.baseline:
        baseline_dir = resolve_run_dir(args.baseline)
        if not baseline_dir.is_dir():
            raise RunError(f"no baseline results folder at {baseline_dir}")
        checks += compare(
            current_summary(run_dir),
            current_summary(baseline_dir),
            min_effect=args.min_effect,
            max_change=args.max_change,
        )
    _print_checks(checks, console)
    if args.junit:
        write_junit(checks, args.junit)
    failed = sum(c.status == "fail" for c in checks)
    passed = sum(c.status == "pass" for c in checks)
    skipped = sum(c.status == "skip" for c in checks)
    console.print(f"{passed} passed, {failed} failed, {skipped} skipped", markup=False)
    return EXIT_FAILED if failed else EXIT_OK


def _print_checks(checks: list[Check], console: Console) -> None:
    table = Table(title="delegate-bench gate", show_lines=False)
    table.add_column("check")
    table.add_column("measured", justify="right")
    table.add_column("result")
    table.add_column("detail")
    style = {"pass": "green", "fail": "bold red", "skip": "yellow"}
    for c in checks:
        value = "-" if c.value is None else f"{c.value:,.4g}"
        table.add_row(c.name, value, f"[{style[c.status]}]{c.status.upper()}[/]", c.detail)
    console.print(table)
