"""`make calibrate`: the harness's latency beside wrk's, same endpoints, same fixed rate, one run.

    .venv/bin/python -m benchmarks.calibrate --seconds 10 --rounds 3

Serves a bare ASGI app (GET /noop, and GET /slow that answers after 150 ms) on uvicorn pinned to
one core, and drives each endpoint at a fixed arrival rate from the other core with wrk (paced
by benchmarks.wrk.PACED_LUA) and with the harness's loadtests/noop.py at the same time, each at
the full rate: this machine is shared, and a sub-millisecond latency drifts by 2-3x from one
ten seconds to the next, so the two tools are compared within the same seconds. Prints both
sets of percentiles, their ratios and differences, and whether issue 11's goals hold; the
figures are medians over the rounds.
Exits 0 whatever the figures (a benchmark, not a test); 2 if wrk is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import loadgen_perf, wrk
from benchmarks.loadgen_perf import LOCUST, REPO, pinned, pinned_server

SLOW_S = 0.150
KEYS = ("p50", "p90", "p99")
# The harness's first second (imports done, but connections and code paths still cold) is
# trimmed; wrk needs no warm-up.
WARMUP_S = 1.0
# wrk starts this long after Locust is launched, so that both measure the same seconds.
LOCUST_START_S = 1.0


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "http" and scope["path"] == "/slow":
        await asyncio.sleep(SLOW_S)
    await loadgen_perf.app(scope, receive, send)


def harness(host: str, path: str, rate: float, seconds: int, users: int) -> dict[str, float]:
    """loadtests/noop.py GETting path at the rate: percentiles (ms) from its raw rows."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "requests.csv"
        command = [str(LOCUST), "-f", "loadtests/noop.py", "--headless", "--only-summary"]
        command += ["-u", str(users), "-r", str(users), "-t", f"{seconds + WARMUP_S:g}s"]
        command += ["--host", host, "--get-path", path, "--arrival-rate", str(rate)]
        command += ["--raw-out", str(raw), "--loglevel", "WARNING"]
        subprocess.run(
            command, cwd=REPO, preexec_fn=pinned(0), capture_output=True, timeout=seconds + 60
        )
        with raw.open() as f:
            rows = [
                (float(r["intended_start"]), float(r["start"]), float(r["end"]), r["error"])
                for r in csv.DictReader(f)
            ]
    t0 = min(r[0] for r in rows)
    ms = np.array(
        [1000 * (end - start) for i, start, end, e in rows if i >= t0 + WARMUP_S and not e]
    )
    return {"requests": len(ms), **dict(zip(KEYS, np.percentile(ms, [50, 90, 99]), strict=True))}


def side_by_side(
    host: str, path: str, rate: float, seconds: int, users: int
) -> tuple[dict[str, float], dict[str, float]]:
    """wrk and the harness on the same endpoint over the same seconds: (wrk's, the harness's)."""

    def paced_wrk() -> dict[str, float]:
        time.sleep(LOCUST_START_S + WARMUP_S)
        return wrk.paced(host + path, rate, seconds, users, pinned(0))

    with ThreadPoolExecutor(1) as pool:
        theirs = pool.submit(paced_wrk)
        ours = harness(host, path, rate, seconds, users)
        return theirs.result(), ours


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def goals(path: str, ours: dict[str, float], theirs: dict[str, float]) -> list[tuple[str, bool]]:
    if path == "/noop":
        return [
            ("p50 <= wrk p50 + 0.3 ms", ours["p50"] <= theirs["p50"] + 0.3),
            ("p99 within +-25% of wrk's", abs(ours["p99"] / theirs["p99"] - 1) <= 0.25),
        ]
    return [("p50 within +-10% of wrk's", abs(ours["p50"] / theirs["p50"] - 1) <= 0.10)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="arrival rate, requests/s")
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds a run")
    parser.add_argument("--rounds", type=int, default=5, help="runs of both tools at once")
    parser.add_argument("--users", type=int, default=64, help="harness users = wrk connections")
    args = parser.parse_args(argv)
    if not wrk.available():
        print("calibrate: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    paths = ("/noop", "/slow")
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    with pinned_server("benchmarks.calibrate:app") as host:
        for _ in range(args.rounds):
            for path in paths:
                theirs, ours = side_by_side(host, path, args.rate, args.seconds, args.users)
                runs.setdefault((path, "wrk"), []).append(theirs)
                runs.setdefault((path, "harness"), []).append(ours)

    print(f"\nGET at {args.rate:g}/s, {args.users} connections/users, {args.seconds} s a run,")
    print(f"both at once, median of {args.rounds} rounds; latency in ms from the send:\n")
    print(f"{'endpoint':<8} {'tool':<14}" + "".join(f"{k:>9}" for k in KEYS) + "  requests")
    for path in paths:
        theirs, ours = median_of(runs[(path, "wrk")]), median_of(runs[(path, "harness")])
        for tool, fig in (("wrk", theirs), ("harness", ours)):
            cells = "".join(f"{fig[k]:>9.3f}" for k in KEYS)
            print(f"{path:<8} {tool:<14}{cells}  {fig['requests']:>8.0f}")
        print(
            f"{path:<8} {'harness / wrk':<14}"
            + "".join(f"{ours[k] / theirs[k]:>9.2f}" for k in KEYS)
        )
        print(
            f"{path:<8} {'harness - wrk':<14}"
            + "".join(f"{ours[k] - theirs[k]:>+9.3f}" for k in KEYS)
        )
        for goal, holds in goals(path, ours, theirs):
            print(f"{'':<8} goal: {goal}: {'holds' if holds else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
