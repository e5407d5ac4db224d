"""`make perf`'s tracing part: the default variant's login traced and untraced, side by side.

Three copies of the same target run at once on the second core, one untraced, one tracing every
request and one tracing a sampled share, each writing its spans to its own file as a timed run
does; wrk takes them in turn, round after round, in the opposite order every other round. The
bench traces its timed runs fully only if full tracing keeps the login at >= 97% of its
untraced rate (runner.bench.TRACED_SHARE says what was chosen).
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
from runner.bench import SAMPLED_SHARE, TRACED_SHARE

COST_GOAL = 0.03  # full tracing may cost the login at most this share of its rate
# As benchmarks.perf's: a new unknown address each request.
LOGIN_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"email": "nobody' .. counter .. '.ROUND@example.net"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""
SETUPS = {"off": None, "full": 1.0, "sampled": SAMPLED_SHARE}  # name: TRACE_SAMPLE_RATIO


def login_rates(name: str, seconds: int, connections: int, rounds: int) -> list[dict[str, float]]:
    """Per round, wrk's login rate on each of the three copies of variant `name`'s target."""
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_PATH": f"{tmp}/perf.db"}
        urls = {}
        with ExitStack() as stack:
            for setup, ratio in SETUPS.items():
                own = {**env, "TRACING": "0" if ratio is None else "1"}
                own.update(TRACE_SAMPLE_RATIO=str(ratio or 1.0), TRACE_DIR=f"{tmp}/{setup}")
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
    """Print the cost; whether TRACED_SHARE is what the measurement calls for."""
    name = next(v for v in DEFAULT_VARIANTS if variant(v).queue is not None)
    rounds_measured = login_rates(name, seconds, connections, rounds)
    print(f"\nTracing's cost: {name}'s POST /login, three copies side by side, medians of")
    print(f"{rounds} rounds (each round's rates against its own untraced one):")
    costs = {}
    for setup in ("full", "sampled"):
        cost = statistics.median(1 - r[setup] / r["off"] for r in rounds_measured)
        costs[setup] = cost
        rate = statistics.median(r[setup] for r in rounds_measured)
        share = "every request" if setup == "full" else f"{SAMPLED_SHARE:.0%} of requests"
        print(f"  traced, {share:<16} {rate:>8.0f} req/s, costs {cost:6.1%} of the rate")
    off = statistics.median(r["off"] for r in rounds_measured)
    print(f"  untraced                 {off:>8.0f} req/s")
    wanted = 1.0 if costs["full"] <= COST_GOAL else SAMPLED_SHARE
    verdict = "every request" if wanted == 1.0 else f"a sampled {SAMPLED_SHARE:.0%}"
    print(
        f"  full tracing costs {costs['full']:.1%} (goal <= {COST_GOAL:.0%}): timed runs"
        f" should trace {verdict}; runner.bench.TRACED_SHARE is {TRACED_SHARE:g}"
    )
    return wanted == TRACED_SHARE
