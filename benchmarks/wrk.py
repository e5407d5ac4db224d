"""wrk, the independent load generator the harness's own figures are held against."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def available() -> bool:
    return shutil.which("wrk") is not None


def rate(
    url: str,
    seconds: int,
    connections: int,
    script: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> float:
    """Requests per second wrk reached with one thread; non-2xx answers are reported."""
    return run(url, seconds, connections, script, preexec_fn)[1]


def run(
    url: str,
    seconds: int,
    connections: int,
    script: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[int, float]:
    """The requests wrk completed with one thread, and their rate a second."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=preexec_fn
    ).stdout
    done = re.search(r"(\d+) requests in", out)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or match is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx answers from {url}", file=sys.stderr)
    return int(done.group(1)), float(match.group(1))


# Plain wrk has no rate flag. Before each request on a connection wrk calls delay() and waits
# that many ms. This script keeps one schedule for the thread: each call claims the next slot
# (slot k is due at k / rate from the first) and waits until it is due, or not at all if it
# is past. A connection that is still waiting for its answer claims nothing, so this is the
# harness's own open model (users claim slots as they become free), not wrk2's: a slot that
# finds every connection busy starts late, and wrk, like the harness's plain latency, times
# from the actual send. wrk's timers have 1 ms resolution: a start may be up to 1 ms early,
# but the schedule itself never drifts.
PACED_LUA = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clk_id, wrk_timespec *tp);
]]
local ts = ffi.new("wrk_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval_ms = 1000 / %(rate)r
local next_ms = nil

function delay()
  local now = now_ms()
  next_ms = next_ms or now
  local wait = next_ms - now
  next_ms = next_ms + interval_ms
  return wait > 0 and math.floor(wait) or 0
end

function done(summary, latency, requests)
  io.write(string.format("paced: %%d %%d %%d %%d %%d\\n", summary.requests,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def paced(
    url: str,
    rate: float,
    seconds: int,
    connections: int,
    preexec_fn: Callable[[], None] | None = None,
) -> dict[str, float]:
    """wrk at a fixed arrival rate (see PACED_LUA): requests, and p50, p90, p99, max in ms."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "paced.lua"
        script.write_text(PACED_LUA % {"rate": float(rate)})
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
        out = subprocess.run(
            command, capture_output=True, text=True, check=True, preexec_fn=preexec_fn
        ).stdout
    match = re.search(r"^paced: (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    requests, *latency_us = (int(x) for x in match.groups())
    keys = ("p50", "p90", "p99", "max")
    return {"requests": requests, **{k: us / 1000 for k, us in zip(keys, latency_us, strict=True)}}
