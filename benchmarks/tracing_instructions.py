"""Tracing's cost counted in instructions, which a busy machine does not change.

    .venv/bin/python -m benchmarks.tracing_instructions     # ~5 min on one core

`make perf` measures tracing's cost as rates and CPU in 2 s turns, and on a shared machine a
turn moves by more than the 3% goal (docs/traces.md). This counts it instead: the default
queue variant's POST /login driven in-process (its ASGI app called directly; the embedded Redis
takes its hand-offs) under valgrind's callgrind, untraced, with tracing on and every request
left out of the sample, and with every request traced. Each setup runs LOW and HIGH logins, and
(HIGH's count - LOW's) / (HIGH - LOW) is one login's instructions, start-up left out.

From those three, what the timed runs' rule costs a target at a given peak rate: it traces
TRACED_SHARE of the requests, at most TRACED_MAX_PER_S a second, and leaves the rest out.
Instructions are not time (a cache miss costs more than an add), but they follow the same code
and come out the same however busy the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from core.contracts import DEFAULT_VARIANTS, variant
from core.redis_server import embedded_redis
from runner.bench import TRACED_MAX_PER_S, TRACED_SHARE

ROOT = Path(__file__).resolve().parent.parent
LOW, HIGH = 100, 600
# name: (TRACING, TRACE_SAMPLE_RATIO)
SETUPS = {"untraced": ("0", "1"), "left out": ("1", "0"), "traced": ("1", "1")}
PEAK_RATES = (500, 1000, 2000, 4000)  # requests a second


def default_variant() -> str:
    return next(v for v in DEFAULT_VARIANTS if variant(v).queue is not None)


async def drive(logins: int) -> None:
    """POST /login `logins` times through the default queue variant's app, one at a time."""
    from importlib import import_module

    module, _, factory = variant(default_variant()).app.partition(":")
    app = getattr(import_module(module), factory)()
    answered: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    async with app.router.lifespan_context(app):
        for i in range(logins):
            body = json.dumps({"email": f"nobody{i}@example.net"}).encode()
            await app(login_scope(len(body)), Receive(body), send)
    if answered != [202] * logins:
        raise RuntimeError(f"logins answered {sorted(set(answered))}, not all 202")


def login_scope(length: int) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/login",
        "raw_path": b"/login",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


class Receive:
    """The request's body, then nothing: the client never disconnects."""

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body

    async def __call__(self) -> dict[str, Any]:
        if self.body is None:
            await asyncio.Event().wait()
        body, self.body = self.body, None
        return {"type": "http.request", "body": body, "more_body": False}


def instructions(env: dict[str, str], logins: int, out: Path) -> int:
    """Every instruction of one process that drives `logins` logins (start-up included)."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    command += [sys.executable, "-m", "benchmarks.tracing_instructions", "--drive", str(logins)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def per_login() -> dict[str, float]:
    """Each setup's instructions a login."""
    counts = {}
    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        for name, (tracing, ratio) in SETUPS.items():
            env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_PATH": f"{tmp}/{name}.db"}
            env.update(TRACING=tracing, TRACE_SAMPLE_RATIO=ratio, TRACE_DIR=f"{tmp}/traces")
            # The enqueue's bound (1 s) is for real time, which callgrind slows 50-fold.
            env.update(QUEUE_TIMEOUT_S="60", PYTHONHASHSEED="0", LOG_LEVEL="warning")
            low, high = (instructions(env, n, Path(tmp) / f"{name}-{n}.out") for n in (LOW, HIGH))
            counts[name] = (high - low) / (HIGH - LOW)
    return counts


def rule_cost(counts: dict[str, float], rate: float) -> float:
    """What the timed runs' rule adds to a login at `rate` requests a second, as a share."""
    share = min(TRACED_SHARE, TRACED_MAX_PER_S / rate) if TRACED_MAX_PER_S else TRACED_SHARE
    each = share * counts["traced"] + (1 - share) * counts["left out"]
    return each / counts["untraced"] - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", type=int, help=argparse.SUPPRESS)  # inside callgrind
    args = parser.parse_args(argv)
    if args.drive is not None:
        asyncio.run(drive(args.drive))
        return 0
    if shutil.which("valgrind") is None:
        print("tracing_instructions: valgrind is not installed", file=sys.stderr)
        return 2
    counts = per_login()
    untraced = counts["untraced"]
    print(f"{default_variant()}'s POST /login in-process, instructions a login (callgrind):")
    for name, count in counts.items():
        print(f"  {name:<9} {count / 1e3:8.0f}k  {count / untraced - 1:+7.1%}")
    rule = f"{TRACED_SHARE:.0%} of requests, <= {TRACED_MAX_PER_S:g}/s"
    print(f"The timed runs' rule ({rule}) at a target's peak rate:")
    for rate in PEAK_RATES:
        print(f"  {rate:>5} req/s: {rule_cost(counts, rate):+.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
