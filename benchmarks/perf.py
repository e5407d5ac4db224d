"""`make perf`: how fast the harness's own parts are, as ratios measured in one run.

Part one starts the embedded Redis and one uvicorn process serving the delegated target (plus a
route that validates the login body and does one RPUSH) and drives each endpoint with wrk for a few
seconds on one thread. Part two is benchmarks/loadgen_perf.py: Locust's ceiling on one core, with
and without raw rows, beside wrk's on the same endpoint. The machine is shared and noisy: read
the ratios, each measured within one run, not the absolutes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import loadgen_perf, wrk
from core.redis_server import embedded_redis, free_port

ROOT = Path(__file__).resolve().parent.parent
# A new unknown address each request: the per-address limit is exercised, never tripped.
LOGIN_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"email": "nobody' .. counter .. '@example.net"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


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
    if not wrk.available():
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
                rates[name] = wrk.rate(base + path, args.seconds, args.connections, lua)
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

    print("\nThe load generator on one core (Locust, loadtests/noop.py) against a bare /noop:")
    generator = loadgen_perf.main(["--rounds", "2", "--duration-s", str(args.seconds)])
    return 0 if login >= 0.25 * noop and generator == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
