"""`make perf`: how fast the harness's own parts are, as ratios measured in one run.

Part one, for each variant whose work runs in queue workers: the embedded Redis, the variant's
target, and beside it the ceiling: the same login whose enqueue is one RPUSH, or one INSERT and
commit for a queue in the database (benchmarks/perf_app.py, in the embedded PostgreSQL), so
login ÷ ceiling is the queue's own cost. wrk drives each endpoint
for a few seconds on one thread.
Then tracing's cost (benchmarks/tracing_cost.py, alone with --tracing-only).
Part two, the pickup overhead: a short real `steady` run of both, the median of (email accepted
- request start) minus the provider's median latency. Part three is benchmarks/loadgen_perf.py:
Locust's ceiling on one core beside wrk's. The machine is shared and noisy: read the ratios,
each measured within one run, not the absolutes.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import redis

from analysis.metrics.stats import rank_interval
from benchmarks import loadgen_perf, tracing_cost, wrk
from core.contracts import VARIANT_NAMES, promises_work, variant
from core.postgres_server import embedded_postgres
from core.redis_server import embedded_redis
from core.scenarios import HEALTHY
from queues import has_workers, needs_database, queue_class
from queues.base import Queue

# The queue variants measured; their goals are their adapters' (login_share_goal,
# pickup_goal_ms).
QUEUES = tuple(v for v in VARIANT_NAMES if has_workers(v))
CEILING_APP = "benchmarks.perf_app:create_app"
CEILING_DB_APP = "benchmarks.perf_app:create_db_app"


PROVIDER_MEDIAN_MS = float(HEALTHY["latency"]["median_ms"])

ROOT = Path(__file__).resolve().parent.parent
# A new unknown address each request: the per-address limit is exercised, never tripped.
LOGIN_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"email": "nobody' .. counter .. '.ROUND@example.net"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


def adapter_of(variant_name: str) -> type[Queue]:
    queue = queue_class(variant_name)
    assert queue is not None, f"{variant_name} has no queue"
    return queue


def serve_rates(queue: str, seconds: int, connections: int, rounds: int) -> list[dict[str, float]]:
    """wrk's rate on the variant's /noop and POST /login, and on the ceiling's POST /login.

    The variant's target and the ceiling (benchmarks/perf_app.py) run side by side, one uvicorn
    process each, both on the second core; wrk and Redis share the first, so Redis's own work
    (a Lua enqueue costs it more than an RPUSH) neither slows the servers nor moves between the
    cores from one round to the next. The endpoints take turns, round after round, in the
    opposite order every other round: the machine is shared, and its speed drifts by more than
    the difference measured, so each round's endpoints are compared with each other.
    """
    in_db = needs_database([queue])
    with (
        embedded_redis() as redis_url,
        tempfile.TemporaryDirectory() as tmp,
        database(in_db) as database_url,
    ):
        pin_redis(redis_url, 0)
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_PATH": f"{tmp}/perf.db"}
        if database_url:
            env["DATABASE_URL"] = database_url
        ceiling_app = CEILING_DB_APP if in_db else CEILING_APP
        with (
            loadgen_perf.pinned_server(variant(queue).app, factory=True, env=env) as target,
            loadgen_perf.pinned_server(ceiling_app, factory=True, env=env) as ceiling,
        ):
            urls = {
                "noop": f"{target}/noop",
                "ceiling": f"{ceiling}/login",
                "login": f"{target}/login",
            }
            measured = []
            for round_ in range(rounds):
                # Each round's addresses are new too.
                script = Path(tmp) / f"login{round_}.lua"
                script.write_text(LOGIN_LUA.replace("ROUND", str(round_)))
                order = list(urls.items())
                measured.append(
                    {
                        name: wrk.rate(
                            url,
                            seconds,
                            connections,
                            None if name == "noop" else script,
                            loadgen_perf.pinned(0),
                        )
                        for name, url in (order if round_ % 2 == 0 else order[::-1])
                    }
                )
            return measured


@contextmanager
def database(wanted: bool) -> Iterator[str | None]:
    """DATABASE_URL's server, else the embedded PostgreSQL, for a queue in the database."""
    if not wanted or os.environ.get("DATABASE_URL"):
        yield os.environ.get("DATABASE_URL") if wanted else None
        return
    with embedded_postgres() as url:
        yield url


def ceiling_label(queue: str) -> str:
    return "one INSERT" if needs_database([queue]) else "one RPUSH"


def pin_redis(redis_url: str, core: int) -> None:
    if loadgen_perf.pinned(core) is None:
        return  # one core: nothing to keep apart
    with redis.Redis.from_url(redis_url) as client:
        pid = int(client.info("server")["process_id"])
    os.sched_setaffinity(pid, {core})


def pickup_overhead_ms(variants: list[str]) -> dict[str, float]:
    """A quick real `steady` run: median (email accepted - request start) - provider median."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(DATABASE_PATH=f"{tmp}/bench.db", TICKETS_DIR=f"{tmp}/tickets")
        argv = [sys.executable, "-m", "runner", "bench", "--quick", "--scenarios", "steady"]
        # Each variant alone: its pickup is its queue's, not its neighbours' too.
        argv += ["--variants", ",".join(variants), "--one-at-a-time", "--no-report", "--no-floor"]
        argv += ["--duration-s", "10", "--results-dir", f"{tmp}/results"]
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the steady run failed: {done.stderr.strip().splitlines()[-1:]}")
        raw = Path(tmp) / "results" / "latest" / "raw"
        starts = {}
        for r in read_csv(raw / "requests.csv"):
            registered = {"true": True, "false": False}.get(r["registered"])
            status = int(float(r["status"] or 0))
            if promises_work(r["endpoint"], status, r["error"], registered):
                starts[(r["variant"], r["work_id"])] = float(r["start"])
        waits: dict[str, list[float]] = {v: [] for v in variants}
        for d in read_csv(raw / "deliveries.csv"):
            start = starts.get((d["variant"], d["work_id"]))
            if start is not None:
                waits[d["variant"]].append(1000 * (float(d["first_at"]) - start))
    return {v: statistics.median(w) - PROVIDER_MEDIAN_MS for v, w in waits.items() if w}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """The median and the ~95% distribution-free interval the analysis gives percentiles."""
    ordered = sorted(values)
    low, high = rank_interval(0.5, np.array([len(ordered)]))
    ranks = [min(max(int(rank[0]), 1), len(ordered)) for rank in (low, high)]
    return statistics.median(ordered), ordered[ranks[0] - 1], ordered[ranks[1] - 1]


def holds(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tracing-only", action="store_true", help="measure only tracing's cost")
    args = parser.parse_args(argv)
    if not wrk.available():
        print("perf: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    if args.tracing_only:
        return 0 if tracing_cost.main(args.seconds, args.connections, args.rounds) else 1

    ok = True
    print(
        f"Each queue variant's target beside the ceiling (its login, the enqueue one RPUSH, or one"
        f" INSERT and commit for a queue in the database), one"
        f" uvicorn process each,\nwrk -t1 -c{args.connections} -d{args.seconds}s,"
        f" {args.rounds} rounds, medians:"
    )
    for queue in QUEUES:
        rounds = serve_rates(queue, args.seconds, args.connections, args.rounds)
        print(f"  {queue}:")
        for name, label in (
            ("noop", "GET /noop"),
            ("ceiling", f"POST /login, the enqueue {ceiling_label(queue)}"),
            ("login", "POST /login, the queue's own enqueue"),
        ):
            rate = statistics.median(r[name] for r in rounds)
            share = statistics.median(r[name] / r["noop"] for r in rounds)
            print(f"    {label:<36} {rate:>9.0f} req/s  {share:6.1%} of /noop")
        ratio, low, high = median_interval([r["login"] / r["ceiling"] for r in rounds])
        figure = (
            f"    login is {ratio:.1%} of the {ceiling_label(queue)} ceiling (95% interval"
            f" {low:.0%} to {high:.0%})"
        )
        goal = adapter_of(queue).login_share_goal
        if goal is None:
            print(f"{figure}: reported, no goal set")
            continue
        met = ratio >= goal
        ok &= met
        print(f"{figure}: {holds(met)} the goal of {goal:.0%}")

    ok &= tracing_cost.main(args.seconds, args.connections, args.rounds)

    print("\nPickup overhead at steady: median (email accepted - request start) - provider's")
    print(f"median latency ({PROVIDER_MEDIAN_MS:.0f} ms), one quick real run of each:")
    overheads = pickup_overhead_ms(list(QUEUES))
    for queue in QUEUES:
        goal_ms = adapter_of(queue).pickup_goal_ms
        if goal_ms is None:
            continue
        got = overheads.get(queue)
        met = got is not None and got <= goal_ms
        ok &= met
        shown = "no emails" if got is None else f"{got:6.1f} ms"
        print(f"  {queue:<16} {shown}: {holds(met)} the goal of <= {goal_ms:.0f} ms")

    print("\nThe load generator on one core (Locust, loadtests/noop.py) against a bare /noop:")
    generator = loadgen_perf.main(["--rounds", "2", "--duration-s", "5"])
    return 0 if ok and generator == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
