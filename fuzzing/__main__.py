"""`python -m fuzzing`: the long fuzz run of `make fuzz`, with a table of cases and 5xx."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from core.postgres_server import PostgresNotFound
from core.redis_server import embedded_redis
from core.serving import serve
from core.settings import Settings
from fuzzing.harness import Tally, fuzz_settings, open_stack
from fuzzing.plans import PLANS, run_plan
from provider.app import create_app as create_provider


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fuzzing", description=__doc__)
    parser.add_argument(
        "--examples",
        type=int,
        default=int(os.environ.get("FUZZ_EXAMPLES", "400")),
        help="cases per plan; schema plans give each operation 40%% of it (env FUZZ_EXAMPLES)",
    )
    parser.add_argument(
        "--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "0")), help="env FUZZ_SEED"
    )
    parser.add_argument(
        "--plans",
        default=os.environ.get("FUZZ_PLANS", ",".join(PLANS)),
        help=f"comma-separated, from: {', '.join(PLANS)} (env FUZZ_PLANS)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the servers' tracebacks")
    parser.add_argument(
        "--json", type=Path, help="also write the per-route counts here, for the reliability table"
    )
    args = parser.parse_args(argv)
    unknown = set(args.plans.split(",")) - set(PLANS)
    if unknown:
        parser.error(
            f"unknown plan(s) {', '.join(sorted(unknown))}; choose from {', '.join(PLANS)}"
        )
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    if args.json is not None and not args.json.parent.is_dir():
        # Checked before the servers start: `make reliability RUN=...` fuzzed a minute first.
        parser.exit(
            2, f"{parser.prog}: error: no folder {args.json.parent} for --json {args.json}\n"
        )
    return args


def report(tallies: list[Tally], elapsed_s: float) -> str:
    lines = [tally.line() for tally in tallies]
    cases = sum(t.cases for t in tallies)
    errors = sum(t.server_errors for t in tallies)
    known = sum(t.known for t in tallies)
    lines.append(
        f"total: {cases} cases, {errors} 5xx ({known} of them known bugs), {elapsed_s:.0f} s"
    )
    for tally in tallies:
        for found, example in tally.findings.items():
            lines.append(f"NEW {tally.route}: {found}\n    e.g. {example}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.verbose:
        # Every 500 also prints uvicorn's traceback; the table below says where they came from.
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
    started = time.monotonic()
    try:
        return fuzz(args, started)
    except PostgresNotFound as exc:  # the database queue's target needs one
        print(f"error: {exc}", file=sys.stderr)
        return 2


def fuzz(args: argparse.Namespace, started: float) -> int:
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fuzz-")))
        redis_url = stack.enter_context(embedded_redis())
        # The targets' own provider; the fuzzed ones are separate, so faults never reach it.
        provider_url = stack.enter_context(serve(create_provider(Settings(log_level="WARNING"))))
        opened = stack.enter_context(open_stack(fuzz_settings(redis_url, provider_url, workdir)))
        tallies = []
        for plan in args.plans.split(","):
            tallies.extend(run_plan(plan, opened, args.examples, args.seed))
            print(f"{plan}: done", file=sys.stderr, flush=True)
    print(report(tallies, time.monotonic() - started))
    if args.json:
        routes = [
            {"route": t.route, "cases": t.cases, "server_errors": t.server_errors, "known": t.known}
            for t in tallies
        ]
        args.json.write_text(json.dumps({"routes": routes}, indent=1) + "\n")
    return 1 if any(tally.findings for tally in tallies) else 0


if __name__ == "__main__":
    raise SystemExit(main())
