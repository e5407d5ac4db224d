"""`python -m runner serve|bench`: start the stack, or benchmark the chosen variants through it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from core.contracts import DEFAULT_VARIANTS, VARIANT_NAMES
from core.db import DatabaseError
from core.processes import raise_open_files
from core.scenarios import SCENARIOS
from core.settings import PROJECT_ROOT, Settings
from loadtests.pacing import OPEN_FILES_WANTED
from runner.arguments import Parser, above_zero, count, positive, settings_from_env
from runner.children import StackError
from runner.signals import Interrupted, raising_on_signals
from runner.stack import StackOptions, serve_port

if TYPE_CHECKING:
    from runner.options import BenchOptions


def _add_stack_arguments(parser: argparse.ArgumentParser, settings: Settings, fixed: bool) -> None:
    provider_port = (urlsplit(settings.provider_url).port or 8025) if fixed else 0
    parser.add_argument("--host", default=settings.host, help="interface every server binds")
    parser.add_argument(
        "--workers", type=count, default=1, help="worker processes per queue variant (default 1)"
    )
    parser.add_argument(
        "--variants",
        default="",
        help=f"comma-separated, or all (default: {','.join(DEFAULT_VARIANTS)})",
    )
    ports = {"provider": provider_port} | {v: serve_port(v) for v in VARIANT_NAMES}
    for name, port in ports.items():
        default = port if fixed else 0
        parser.add_argument(
            f"--{name}-port",
            type=count,
            default=default,
            metavar="PORT",
            help=f"port of the {name} server; 0 picks a free one (default {default})",
        )
    parser.add_argument("--log-dir", type=Path, default=None, help="one log file per process")


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = Parser(prog="python -m runner", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = sub.add_parser("serve", help="run the whole stack in the foreground until Ctrl-C")
    _add_stack_arguments(serve, settings, fixed=True)
    serve.add_argument(
        "--urls-file",
        type=Path,
        default=PROJECT_ROOT / "var" / "serve.json",
        help="where the URLs are written as JSON (default var/serve.json)",
    )

    bench = sub.add_parser(
        "bench", help="run scenarios against the chosen variants, write results/"
    )
    _add_stack_arguments(bench, settings, fixed=False)
    bench.add_argument(
        "--scenarios",
        default="",
        help="comma-separated names (default: all but those run only when named: "
        f"{', '.join(s.name for s in SCENARIOS if s.named_only)})",
    )
    bench.add_argument("--repeat", type=positive, default=1, help="repetitions of each run")
    bench.add_argument("--seed", type=int, default=settings.seed, help="seeds every run alike")
    bench.add_argument(
        "--quick",
        action="store_true",
        help="every scenario shortened to a few seconds, a login scenario's variants side by side",
    )
    bench.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="a quick run's variants one after another, as make bench runs them",
    )
    bench.add_argument(
        "--duration-s",
        type=above_zero,
        default=None,
        metavar="S",
        help="squeeze every scenario's load into S seconds (quick: 5)",
    )
    bench.add_argument("--locust-processes", type=positive, default=1, metavar="N")
    bench.add_argument(
        "--expect-workers",
        type=count,
        default=0,
        metavar="N",
        help="start Locust's master only and wait for N workers started elsewhere",
    )
    bench.add_argument("--expect-workers-wait-s", type=above_zero, default=60.0, metavar="S")
    bench.add_argument("--master-bind-host", default="127.0.0.1", help="where workers connect")
    bench.add_argument("--master-bind-port", type=count, default=5557, metavar="PORT")
    bench.add_argument("--provider-url", default=None, help="use a provider running elsewhere")
    for name in VARIANT_NAMES:
        bench.add_argument(
            f"--{name}-url", default=None, metavar="URL", help=f"drive a {name} target elsewhere"
        )
    bench.add_argument("--label", default="", help="suffix of the results folder's name")
    bench.add_argument("--results-dir", type=Path, default=PROJECT_ROOT / "results")
    bench.add_argument("--no-report", action="store_true", help="skip `python -m analysis report`")
    bench.add_argument(
        "--no-floor", action="store_true", help="skip measuring the harness's floor (GET /noop)"
    )
    return parser


def option_dest(variant: str, what: str) -> str:
    """Where argparse keeps `--<variant>-<what>` (a dash in a variant's name becomes _)."""
    return f"{variant}_{what}".replace("-", "_")


def stack_options(args: argparse.Namespace, log_dir: Path) -> StackOptions:
    from runner.options import parse_variants

    urls = {v: getattr(args, option_dest(v, "url"), None) for v in VARIANT_NAMES}
    return StackOptions(
        variants=parse_variants(args.variants),
        host=args.host,
        provider_port=args.provider_port,
        ports={v: getattr(args, option_dest(v, "port")) for v in VARIANT_NAMES},
        workers=args.workers,
        urls={v: url for v, url in urls.items() if url is not None},
        provider_url=getattr(args, "provider_url", None),
        log_dir=log_dir,
    )


def bench_options(args: argparse.Namespace) -> BenchOptions:
    from runner.options import BenchOptions  # heavier than `serve` needs

    return BenchOptions(
        stack=stack_options(args, args.log_dir or StackOptions.log_dir),
        log_dir=args.log_dir,
        scenarios=args.scenarios,
        repeat=args.repeat,
        seed=args.seed,
        quick=args.quick,
        one_at_a_time=args.one_at_a_time,
        duration_s=args.duration_s,
        locust_processes=args.locust_processes,
        expect_workers=args.expect_workers,
        expect_workers_wait_s=args.expect_workers_wait_s,
        master_bind_host=args.master_bind_host,
        master_bind_port=args.master_bind_port,
        label=args.label,
        results_dir=args.results_dir,
        report=not args.no_report,
        floor=not args.no_floor,
    )


def main(argv: list[str] | None = None) -> int:
    settings = settings_from_env()
    args = build_parser(settings).parse_args(argv)
    # The targets inherit it: a slow one may hold a connection for each of thousands of users.
    raise_open_files(OPEN_FILES_WANTED)
    try:
        if args.command == "serve":
            from runner.serve import serve

            log_dir = args.log_dir or PROJECT_ROOT / "var" / "logs"
            return serve(settings, stack_options(args, log_dir), args.urls_file)
        from runner.bench import bench

        with raising_on_signals():  # the bench narrows this to its run, and cleans up after
            return bench(settings, bench_options(args))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except DatabaseError as exc:  # DATABASE_URL names a database that cannot be used
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:  # before anything was started
        print(f"error: interrupted by {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
