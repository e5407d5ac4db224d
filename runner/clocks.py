"""Other hosts' clocks against the runner's, by a request and its answer, as NTP estimates them.

t0 sent, the server's time, t1 received: offset = server - (t0 + t1) / 2, wrong by at most half
the round trip. Of a few exchanges the one with the shortest round trip is kept. Offsets are a
host's clock minus the runner's; Locust workers are measured by the Locust master (on this host)
over its own messages (loadtests.distributed).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import redis

from core.contracts import PROVIDER_CLOCK, locust_worker_clock

EXCHANGES = 5
# Completion times are reported in ms: past this, correcting them is guesswork worth a flag.
OFFSET_BOUND_S = 0.05


def estimate(server_time: Callable[[], float], clock: Callable[[], float] = time.time) -> Probe:
    """The offset of the best of EXCHANGES exchanges (the shortest round trip)."""
    best: Probe | None = None
    for _ in range(EXCHANGES):
        t0 = clock()
        server = server_time()
        t1 = clock()
        probe = {"offset_s": round(server - (t0 + t1) / 2, 6), "rtt_s": round(t1 - t0, 6)}
        if best is None or probe["rtt_s"] < best["rtt_s"]:
            best = probe
    assert best is not None
    return best


Probe = dict[str, float]  # offset_s, rtt_s


def http_time(client: httpx.Client, base_url: str) -> Callable[[], float]:
    return lambda: float(client.get(f"{base_url}/clock").raise_for_status().json()["time"])


def redis_time(client: redis.Redis) -> Callable[[], float]:
    def server() -> float:
        seconds, micros = client.time()  # type: ignore[misc]
        return int(seconds) + int(micros) / 1e6

    return server


def measure(provider_url: str, redis_url: str) -> dict[str, Probe]:
    """The provider's host and Redis's host, now; a host that does not answer is left out."""
    found: dict[str, Probe] = {}
    with (
        httpx.Client(timeout=2.0) as http,
        contextlib.suppress(httpx.HTTPError, ValueError, KeyError),
    ):
        found[PROVIDER_CLOCK] = estimate(http_time(http, provider_url))
    with (
        redis.Redis.from_url(redis_url, socket_timeout=2.0) as r,
        contextlib.suppress(redis.RedisError),
    ):
        found["redis"] = estimate(redis_time(r))
    return found


def locust_clocks(stats: Mapping[str, Any]) -> dict[str, dict[str, Probe]]:
    """What the Locust master measured of each worker, by phase (start, end)."""
    return {
        locust_worker_clock(index): dict(worker.get("clock") or {})
        for index, worker in (stats.get("workers") or {}).items()
        if worker.get("clock")
    }


def combine(start: Mapping[str, Probe], end: Mapping[str, Probe]) -> dict[str, dict[str, Any]]:
    """Per host: both probes and the offset the analysis applies (their mean)."""
    hosts: dict[str, dict[str, Any]] = {}
    for name in sorted(set(start) | set(end)):
        probes = {p: d[name] for p, d in (("start", start), ("end", end)) if name in d}
        offsets = [p["offset_s"] for p in probes.values()]
        hosts[name] = {**probes, "offset_s": round(sum(offsets) / len(offsets), 6)}
    return hosts


def beyond_bound(hosts: Mapping[str, Mapping[str, Any]], bound_s: float = OFFSET_BOUND_S) -> str:
    """Why the offsets cannot be trusted to the bound ("" when they can)."""
    why = []
    for name, host in hosts.items():
        probes = [host[p] for p in ("start", "end") if p in host]
        worst = max(abs(p["offset_s"]) + p["rtt_s"] / 2 for p in probes)
        drift = abs(probes[0]["offset_s"] - probes[-1]["offset_s"])
        if worst > bound_s or drift > bound_s:
            why.append(f"{name} off by {worst * 1000:.0f} ms, drifted {drift * 1000:.0f} ms")
    return "; ".join(why)
