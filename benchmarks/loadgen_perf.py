"""How fast the load generator goes on one core, with and without raw per-request rows.

    .venv/bin/python -m benchmarks.loadgen_perf --rate 6000 --duration-s 5

Serves a bare ASGI /noop on uvicorn in a child process pinned to one core, runs
loadtests/noop.py pinned to the other at an arrival rate above what it can reach, and prints the
request rate it did reach. The difference between the two runs is the cost of recording.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks import wrk
from core.processes import stop
from core.redis_server import free_port
from loadtests.recorder import RawRecorder

REPO = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
LOCUST = PYTHON.with_name("locust")


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """GET anything -> 200 {} with the caller's X-Request-ID: as little server work as possible."""
    if scope["type"] != "http":
        return
    rid = dict(scope["headers"]).get(b"x-request-id", b"")
    headers = [(b"content-type", b"application/json"), (b"x-request-id", rid)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def pinned(core: int) -> Callable[[], None] | None:
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {core})


@contextmanager
def pinned_server(
    app: str = "benchmarks.loadgen_perf:app",
    factory: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """An ASGI app (or app factory) on uvicorn, pinned to the second core; yields its base URL.

    uvicorn listens only once the app's start-up is done, so a connection means it is ready.
    """
    port = free_port()
    command = [str(PYTHON), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--http", "httptools"]
    command += ["--factory"] if factory else []
    child = subprocess.Popen(command, cwd=REPO, env=env, preexec_fn=pinned(1))
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server of {app} did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(child)


def locust_command(
    host: str, rate: float, duration_s: int, users: int, out: Path, raw: bool
) -> list[str]:
    command = [str(LOCUST), "-f", "loadtests/noop.py", "--headless", "--only-summary"]
    command += ["-u", str(users), "-r", str(users), "-t", f"{duration_s}s", "--host", host]
    command += ["--arrival-rate", str(rate), "--json-file", str(out / "locust")]
    command += ["--loglevel", "WARNING"]
    if raw:
        command += ["--raw-out", str(out / "requests.csv")]
    return command


def measure(host: str, rate: float, duration_s: int, users: int, raw: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        command = locust_command(host, rate, duration_s, users, out, raw)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            command, cwd=REPO, preexec_fn=pinned(0), capture_output=True, timeout=duration_s + 60
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        entries = json.loads((out / "locust.json").read_text())
        noop = next(e for e in entries if e["name"] == "/noop")
        span = noop["last_request_timestamp"] - noop["start_time"]
        result = {"requests": noop["num_requests"], "rps": noop["num_requests"] / span}
        # CPU per request, start-up included: steadier than the rate on a busy machine.
        result["cpu_us_per_request"] = 1e6 * cpu_s / max(noop["num_requests"], 1)
        if raw:
            totals = json.loads((out / "requests.csv.stats.json").read_text())["totals"]
            result["rows"] = totals["rows"]
            result["cpu_percent"] = totals["max_cpu_percent"]
            result["late_share"] = totals["late_starts"] / max(totals["slots_started"], 1)
        return result


def recording_cost_us(rows: int = 100_000) -> float:
    """CPU microseconds to record and write one raw row, measured without any network."""
    with tempfile.TemporaryDirectory() as tmp:
        recorder = RawRecorder(Path(tmp) / "requests.csv", "perf", "noop", 0)
        t = time.perf_counter()
        for _ in range(rows):
            now = time.time()
            recorder.add(("noop", now, now, now, 200, "", "0123456789abcdef" * 2, "", ""))
            if len(recorder.rows) >= 1000:
                recorder.flush()
        recorder.close()
        return (time.perf_counter() - t) / rows * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=6000.0, help="arrival rate asked for")
    parser.add_argument("--duration-s", type=int, default=5)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="alternating pairs of runs")
    args = parser.parse_args(argv)
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    wrk_rates: list[float] = []
    with pinned_server() as host:
        for _ in range(args.rounds):
            for raw in (False, True):
                results[raw].append(measure(host, args.rate, args.duration_s, args.users, raw))
            if wrk.available():
                wrk_rates.append(wrk.rate(f"{host}/noop", args.duration_s, 32, None, pinned(0)))
    for raw, runs in results.items():
        label = "with raw rows   " if raw else "without raw rows"
        rates = sorted(r["rps"] for r in runs)
        print(
            f"{label}: best {rates[-1]:.0f} req/s, median {statistics.median(rates):.0f} "
            f"(runs: {', '.join(f'{x:.0f}' for x in rates)})"
        )
    for raw, runs in results.items():
        label = "with raw rows   " if raw else "without raw rows"
        us = sorted(r["cpu_us_per_request"] for r in runs)
        print(f"{label}: generator CPU {statistics.median(us):.0f} us a request (median)")
    cpu = [r["cpu_percent"] for r in results[True]]
    print(f"generator CPU with raw rows (% of one core): {', '.join(f'{c:.0f}' for c in cpu)}")
    best = {raw: max(r["rps"] for r in runs) for raw, runs in results.items()}
    print(f"best with / best without: {best[True] / best[False]:.3f}")
    if wrk_rates:
        print(
            f"wrk -t1 -c32 on the same /noop and core: best {max(wrk_rates):.0f} req/s;"
            f" Locust reaches {best[False] / max(wrk_rates):.0%} of it"
        )
    else:
        print("wrk is not installed (apt-get install wrk): no independent figure")
    cost_us = recording_cost_us()
    share = cost_us * best[False] / 1e6
    print(
        f"recording: {cost_us:.1f} us of CPU a row = {100 * share:.1f}% of a core at the top rate"
    )
    return 0 if best[False] >= 2000 and share <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
