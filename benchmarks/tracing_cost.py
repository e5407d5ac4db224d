"""`make perf`'s tracing part: the default variant's login traced and untraced, side by side.

Three copies of the same target run at once on the second core, one untraced, one tracing every
request and one tracing as timed runs do (runner.bench's TRACED_SHARE, at most TRACED_MAX_PER_S
a second), each writing its spans to its own file as a timed run does; wrk takes them in turn,
round after round, in the opposite order every other round. The bench traces its timed runs
fully only if full tracing keeps the login at >= 97% of its untraced rate; else the sampled
share, which must then keep it there.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

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


def login_rates(name: str, seconds: int, connections: int, rounds: int) -> list[dict[str, float]]:
    """Per round, wrk's login rate on each of the three copies of variant `name`'s target."""
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_PATH": f"{tmp}/perf.db"}
        urls = {}
        with ExitStack() as stack:
            for setup, sampling in SETUPS.items():
                ratio, max_per_s = sampling or (1.0, 0.0)
                own = {**env, "TRACING": "0" if sampling is None else "1"}
                own.update(TRACE_SAMPLE_RATIO=str(ratio), TRACE_MAX_PER_S=str(max_per_s))
                own.update(TRACE_DIR=f"{tmp}/{setup}")
                url = stack.enter_context(
                    loadgen_perf.pinned_server(variant(name).app, factory=True, env=own)
                )
                urls[setup] = f"{url}/login"
            measured = []
            for round_ in range(rounds):
                script = Path(tmp) / f"login{round_}.lua"
                script.write_text(LOGIN_LUA.replace("ROUND", str(round_)))
                order = list(urls.items())
                measured.append(
                    {
                        setup: wrk.rate(url, seconds, connections, script, loadgen_perf.pinned(0))
                        for setup, url in (order if round_ % 2 == 0 else order[::-1])
                    }
                )
            return measured


def main(seconds: int, connections: int, rounds: int) -> bool:
    """Print the cost; whether timed runs trace as the measurement calls for, within the goal."""
    name = next(v for v in DEFAULT_VARIANTS if variant(v).queue is not None)
    rounds_measured = login_rates(name, seconds, connections, rounds)
    print(f"\nTracing's cost: {name}'s POST /login, three copies side by side, medians of")
    print(f"{rounds} rounds (each round's rates against its own untraced one):")
    costs = {}
    for setup in ("full", "sampled"):
        cost = statistics.median(1 - r[setup] / r["off"] for r in rounds_measured)
        costs[setup] = cost
        rate = statistics.median(r[setup] for r in rounds_measured)
        share = "every request" if setup == "full" else SAMPLED
        print(f"  traced, {share:<26} {rate:>8.0f} req/s, costs {cost:6.1%} of the rate")
    off = statistics.median(r["off"] for r in rounds_measured)
    print(f"  untraced{'':<27} {off:>8.0f} req/s")
    traced_fully = TRACED_SHARE == 1 and not TRACED_MAX_PER_S
    cost = costs["full" if traced_fully else "sampled"]
    ok = cost <= COST_GOAL and traced_fully == (costs["full"] <= COST_GOAL)
    print(
        f"  timed runs trace {'every request' if traced_fully else SAMPLED} (runner.bench):"
        f" {cost:.1%} of the rate, goal <= {COST_GOAL:.0%}: {'met' if ok else 'MISSED'}"
    )
    if costs["full"] <= COST_GOAL and not traced_fully:
        print("  full tracing is within the goal: timed runs should trace every request")
    return ok
