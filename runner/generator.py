"""The load generator as the runner reads it: Locust's rows and stats, and whether it kept up."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from runner import clocks

# More late starts than this share (and a handful): the generator fell behind its rate.
LATE_SHARE_FLAG = 0.02
LATE_COUNT_FLAG = 5
CPU_FLAG_PERCENT = 90


def read_stats(raw_out: Path) -> dict[str, Any]:
    try:
        stats: dict[str, Any] = json.loads(Path(f"{raw_out}.stats.json").read_text())
    except (OSError, ValueError):
        return {}
    return stats


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load_window(stats: dict[str, Any], t0: float, end: float) -> tuple[float, float]:
    """The load's first start and last stop as Locust's workers saw them."""
    workers = list((stats.get("workers") or {}).values())
    starts = [float(w["t0"]) for w in workers if w.get("t0")]
    stops = [float(w["t_stop"]) for w in workers if w.get("t_stop")]
    return (min(starts) if starts else t0), (max(stops) if stops else end)


def generator_flags(stats: Mapping[str, Any], sampled_cpu: float) -> Iterator[tuple[str, str]]:
    """(flag, detail) for each generator (each Locust worker) saturated or behind its rate."""
    if not stats:
        yield "no_generator_stats", "Locust wrote no stats file"
        return
    workers = stats.get("workers") or {}
    if len(workers) > 1:
        for index, worker in sorted(workers.items()):
            yield from _one_generator(worker, 0.0, f"Locust worker {index}: ")
    else:
        totals = stats.get("totals") or {}
        yield from _one_generator(
            {**totals, "cpu_percent": totals.get("max_cpu_percent")}, sampled_cpu, ""
        )


def _one_generator(
    stats: Mapping[str, Any], sampled_cpu: float, who: str
) -> Iterator[tuple[str, str]]:
    started = int(stats.get("slots_started", 0))
    late = int(stats.get("late_starts", 0))
    cpu_max = max(float(stats.get("cpu_percent") or 0.0), sampled_cpu)
    if stats.get("generator_saturated") or cpu_max > CPU_FLAG_PERCENT:
        yield "generator_saturated", f"{who}Locust CPU peaked at {cpu_max:.0f}%"
    behind = late > max(LATE_COUNT_FLAG, LATE_SHARE_FLAG * started)
    dropped = int(stats.get("dropped", 0))
    if behind or dropped > 0:
        detail = f"{who}{late} of {started} starts late, {dropped} dropped: {why_behind(stats)}"
        yield "generator_behind", detail


def why_behind(stats: Mapping[str, Any]) -> str:
    """Why a generator started requests late: out of users, or (users to spare) out of CPU."""
    peak, most = int(stats.get("peak_users", 0)), int(stats.get("max_users", 0))
    if most and peak >= most:
        return f"users ran out at the cap of {most} (--max-users)"
    cpu = float(stats.get("cpu_percent") or 0.0)
    return (
        f"not for want of users ({peak} of at most {most}): the machine's CPU"
        f" (the generator averaged {cpu:.0f}% of a core; the target and workers share it)"
    )


def host_clocks(
    start: dict[str, clocks.Probe], end: dict[str, clocks.Probe], stats: Mapping[str, Any]
) -> dict[str, Any]:
    """Every host's clock offset over the run: the stack's hosts, then Locust's workers."""
    hosts = clocks.combine(start, end)
    by_host = clocks.locust_clocks(stats)
    locust_start = {h: p["start"] for h, p in by_host.items() if "start" in p}
    locust_end = {h: p["end"] for h, p in by_host.items() if "end" in p}
    hosts.update(clocks.combine(locust_start, locust_end))
    return hosts
