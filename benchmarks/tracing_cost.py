"""`make perf`'s tracing part: the default variant's login untraced and traced, in CPU a request.

Three copies of the same target run on the second core, one untraced, one tracing every request
and one tracing as timed runs do (runner.bench's TRACED_SHARE, at most TRACED_MAX_PER_S a
second), each writing its spans to its own file as a timed run does. wrk takes them in turn, one
at a time, round after round, in the opposite order every other round.

The cost is the CPU a request takes, each copy's own: all its threads, the span exporter's too,
as the kernel's scheduler counts them. A saturated server's peak rate is its core's second over
that CPU, so the CPU's share is the rate's; but the rate of a 2 s turn also moves with whatever
else the shared machine runs, and with the copy before it, whose exporter writes that turn's
last spans up to 5 s later, in the next copy's turn (the -6.6% `make perf` once put on the
timed runs' rule, where instruction counts found about 1%). So what a copy spends from one of
its turns to its next is charged to that turn: a copy pays for its own spans wherever they are
written, and for nobody else's. The rates are shown beside it.

The bench traces its timed runs fully only if full tracing costs the login <= 3% of its rate;
else the sampled share, which must then cost no more.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks import loadgen_perf, wrk
from core.contracts import DEFAULT_VARIANTS, variant
from core.redis_server import embedded_redis
from runner.bench import TRACED_MAX_PER_S, TRACED_SHARE

COST_GOAL = 0.03  # the tracing of timed runs may cost the login at most this share of its rate
# As benchmarks.perf's: a new unknown address each request.
LOGIN_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"email": "nobody' .. counter .. '.ROUND@example.net"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""
# name: (TRACE_SAMPLE_RATIO, TRACE_MAX_PER_S), None for untraced
SETUPS = {"off": None, "full": (1.0, 0.0), "sampled": (TRACED_SHARE, TRACED_MAX_PER_S)}
SAMPLED = f"{TRACED_SHARE:.0%} of requests, <= {TRACED_MAX_PER_S:g}/s"
EXPORTED_S = 6.0  # after the last turn: the exporter writes what it holds every 5 s


@dataclass(frozen=True)
class Turn:
    rate: float  # wrk's requests a second
    cpu_s: float  # the copy's CPU a request, the export of its spans included


def cpu_s(process: psutil.Process) -> float:
    """Seconds `process` has run on a CPU, all its threads: the scheduler's count in ns where
    Linux gives it (psutil's user + system time has 10 ms ticks, 1% of a 2 s turn)."""
    tasks = Path(f"/proc/{process.pid}/task")
    if not tasks.is_dir():
        times = process.cpu_times()
        return float(times.user + times.system)
    total_ns = 0
    for task in tasks.iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total_ns += int((task / "schedstat").read_text().split()[0])
    return total_ns / 1e9


def serving(url: str) -> psutil.Process:
    """The child process listening at `url`: loadgen_perf.pinned_server's uvicorn."""
    port = int(url.rsplit(":", 1)[1])
    for child in psutil.Process().children():
        listening = child.net_connections("tcp")
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in listening):
            return child
    raise RuntimeError(f"no child process listens at {url}")


def login_turns(name: str, seconds: int, connections: int, rounds: int) -> list[dict[str, Turn]]:
    """Per round, each of the three copies' turn at variant `name`'s login."""
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_PATH": f"{tmp}/perf.db"}
        copies = {}
        with ExitStack() as stack:
            for setup, sampling in SETUPS.items():
                ratio, max_per_s = sampling or (1.0, 0.0)
                own = {**env, "TRACING": "0" if sampling is None else "1"}
                own.update(TRACE_SAMPLE_RATIO=str(ratio), TRACE_MAX_PER_S=str(max_per_s))
                own.update(TRACE_DIR=f"{tmp}/{setup}")
                url = stack.enter_context(
                    loadgen_perf.pinned_server(variant(name).app, factory=True, env=own)
                )
                copies[setup] = (f"{url}/login", serving(url))
            done: dict[str, list[tuple[int, float]]] = {setup: [] for setup in copies}
            cpu_at: dict[str, list[float]] = {setup: [] for setup in copies}  # each turn's start
            for round_ in range(rounds):
                script = Path(tmp) / f"login{round_}.lua"
                script.write_text(LOGIN_LUA.replace("ROUND", str(round_)))
                order = list(copies.items())
                for setup, (url, process) in order if round_ % 2 == 0 else order[::-1]:
                    cpu_at[setup].append(cpu_s(process))
                    pinned = loadgen_perf.pinned(0)
                    done[setup].append(wrk.run(url, seconds, connections, script, pinned))
            time.sleep(EXPORTED_S)
            for setup, (_, process) in copies.items():
                cpu_at[setup].append(cpu_s(process))
            return [
                {
                    setup: Turn(
                        rate=done[setup][r][1],
                        cpu_s=(cpu_at[setup][r + 1] - cpu_at[setup][r]) / done[setup][r][0],
                    )
                    for setup in copies
                }
                for r in range(rounds)
            ]


def main(seconds: int, connections: int, rounds: int) -> bool:
    """Print the cost; whether timed runs trace as the measurement calls for, within the goal."""
    from benchmarks.perf import median_interval  # here: benchmarks.perf imports this module

    name = next(v for v in DEFAULT_VARIANTS if variant(v).queue is not None)
    turns = login_turns(name, seconds, connections, rounds)
    print(f"\nTracing's cost: {name}'s POST /login, three copies taking turns on one core,")
    print(f"medians of {rounds} rounds (each round's CPU a request against its own untraced one):")
    costs, widths = {}, {}
    for setup in ("full", "sampled"):
        cost, low, high = median_interval([1 - t["off"].cpu_s / t[setup].cpu_s for t in turns])
        costs[setup], widths[setup] = cost, high - low
        rate = statistics.median(t[setup].rate for t in turns)
        cpu_us = 1e6 * statistics.median(t[setup].cpu_s for t in turns)
        share = "every request" if setup == "full" else SAMPLED
        print(
            f"  traced, {share:<26} {rate:>8.0f} req/s, {cpu_us:6.0f} µs of CPU a request,"
            f" costs {cost:6.1%} of the rate (95% interval {low:.1%} to {high:.1%})"
        )
    off = statistics.median(t["off"].rate for t in turns)
    off_us = 1e6 * statistics.median(t["off"].cpu_s for t in turns)
    print(f"  untraced{'':<27} {off:>8.0f} req/s, {off_us:6.0f} µs of CPU a request")
    traced_fully = TRACED_SHARE == 1 and not TRACED_MAX_PER_S
    cost = costs["full" if traced_fully else "sampled"]
    ok = cost <= COST_GOAL and traced_fully == (costs["full"] <= COST_GOAL)
    print(
        f"  timed runs trace {'every request' if traced_fully else SAMPLED} (runner.bench):"
        f" {cost:.1%} of the rate, goal <= {COST_GOAL:.0%}: {'met' if ok else 'MISSED'}"
    )
    if costs["full"] <= COST_GOAL and not traced_fully:
        print("  full tracing is within the goal: timed runs should trace every request")
    if widths["full" if traced_fully else "sampled"] > 2 * COST_GOAL:
        print(
            "  its interval is wider than the goal: this machine's turns cannot judge it; count"
            " it in instructions with `python -m benchmarks.tracing_instructions`"
        )
    return ok
