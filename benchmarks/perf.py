"""`make perf`: how fast the harness's own parts are, as ratios measured in one run.

Starts the embedded Redis and one uvicorn process serving the delegated target (plus a route that
validates the login body and does one RPUSH), then drives each endpoint with wrk for a few seconds
on one connection thread. The machine is shared and noisy: read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from core.redis_server import embedded_redis, free_port

ROOT = Path(__file__).resolve().parent.parent
LOGIN_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email": "nobody1@example.net"}'
"""


def wrk_rate(url: str, seconds: int, connections: int, script: Path | None) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx answers from {url}", file=sys.stderr)
    return float(match.group(1))


def wait_healthy(url: str, deadline_s: float = 20) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("perf: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    with embedded_redis() as redis_url, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_PATH": f"{tmp}/perf.db"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.perf_app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(f"{base}/healthz")
            script = Path(tmp) / "login.lua"
            script.write_text(LOGIN_LUA)
            rates = {}
            for name, path, lua in [
                ("GET /noop", "/noop", None),
                ("POST /perf/rpush (validate + one RPUSH)", "/perf/rpush", script),
                ("POST /login (delegated: validate + arq enqueue)", "/login", script),
            ]:
                rates[name] = wrk_rate(base + path, args.seconds, args.connections, lua)
        finally:
            server.terminate()
            server.wait(timeout=10)

    noop = rates["GET /noop"]
    print(f"\nOne uvicorn process, wrk -t1 -c{args.connections} -d{args.seconds}s:")
    for name, rate in rates.items():
        print(f"  {name:<50} {rate:>9.0f} req/s  {rate / noop:6.1%} of /noop")
    login = rates["POST /login (delegated: validate + arq enqueue)"]
    verdict = "meets" if login >= 0.25 * noop else "MISSES"
    print(f"\nDelegated POST /login {verdict} the goal of at least 25% of /noop's rate.")
    return 0 if login >= 0.25 * noop else 1


if __name__ == "__main__":
    raise SystemExit(main())
