"""The baseline gate proven on real runs: `make gate-proof` (about four minutes on 2 cores).

Runs the same quick bench twice (A/A: every compared figure must be within noise), then once
with the delegated variant degraded to wait for its job (A/B: a regression, with its effect
size). `--reruns N` compares N identical reruns with the first and counts how many were called
a regression (issue 11's goal: none in 10). Exit 0 when the gate told noise from the
regression every time, 1 when it did not, 2 when a bench failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from analysis.gate.baseline import compare
from analysis.gate.thresholds import Check
from analysis.metrics.summary_json import current_summary

SCENARIOS = "steady,outage,slow-provider,webhook-burst"
DEGRADED = {"DELEGATED_AWAIT_JOB_S": "10"}  # README, "The regression gate"
EXIT_OK, EXIT_WRONG, EXIT_BENCH = 0, 1, 2


def bench_command(results: Path, label: str, scenarios: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "runner",
        "bench",
        "--quick",
        "--scenarios",
        scenarios,
        "--results-dir",
        str(results),
        "--label",
        label,
    ]


def bench(results: Path, label: str, scenarios: str, env: dict[str, str]) -> Path:
    done = subprocess.run(
        bench_command(results, label, scenarios),
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = sorted(results.glob(f"*-{label}"))
    if done.returncode != 0 or not runs:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"bench {label} exited {done.returncode}: {tail[0]}")
    return runs[-1]


def verdicts(checks: list[Check]) -> dict[str, list[Check]]:
    out: dict[str, list[Check]] = {}
    for check in checks:
        kind = "skipped" if check.status == "skip" else check.detail.split(":", 1)[0]
        out.setdefault(kind, []).append(check)
    return out


def show(title: str, checks: list[Check]) -> None:
    by_kind = verdicts(checks)
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
    print(f"\n{title}: {len(checks)} figures compared: {counts}")
    for kind in ("regression", "improvement"):
        for check in by_kind.get(kind, []):
            print(f"  {kind}: {check.name}: {check.detail.split(': ', 1)[1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gate_proof", description=__doc__)
    parser.add_argument("--scenarios", default=SCENARIOS)
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    parser.add_argument(
        "--reruns", type=int, default=1, help="identical reruns compared with the first"
    )
    args = parser.parse_args(argv)
    if args.reruns < 1:
        parser.error("--reruns must be at least 1")
    plan = [
        ("aa-first", {}),
        *((f"aa-rerun-{i}", {}) for i in range(1, args.reruns + 1)),
        ("ab-degraded", DEGRADED),
    ]
    with tempfile.TemporaryDirectory(prefix="gate-proof-") as scratch:
        results = args.keep or Path(scratch)
        runs = []
        for i, (label, env) in enumerate(plan, 1):
            print(f"gate-proof: bench {i} of {len(plan)}: {label} ({args.scenarios})", flush=True)
            try:
                runs.append(current_summary(bench(results, label, args.scenarios, env)))
            except RuntimeError as exc:
                print(f"gate-proof: error: {exc}", file=sys.stderr)
                return EXIT_BENCH
    first, *reruns, degraded = runs
    alarmed = 0
    for i, rerun in enumerate(reruns, 1):
        same = compare(rerun, first, min_effect=0.10, max_change=0.20)
        show(f"A/A, identical rerun {i} against the first", same)
        alarmed += any(c.status == "fail" for c in same)
    worse = compare(degraded, first, min_effect=0.10, max_change=0.20)
    show(f"A/B, delegated degraded ({', '.join(f'{k}={v}' for k, v in DEGRADED.items())})", worse)
    caught = [c for c in worse if c.status == "fail" and c.name.startswith("delegated.")]
    print()
    print(f"A/A: {alarmed} of {len(reruns)} identical reruns called a regression (want 0)")
    print(f"A/B: {len(caught)} delegated regressions called (want 1 or more)")
    ok = not alarmed and bool(caught)
    print("verdict: the gate " + ("tells noise from a regression" if ok else "is WRONG"))
    return EXIT_OK if ok else EXIT_WRONG


if __name__ == "__main__":
    sys.exit(main())
