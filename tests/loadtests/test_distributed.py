"""Locust's master and two workers, as separate commands: rows reach the master by message."""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from core.redis_server import free_port
from tests.loadtests.test_locust_run import REPO, target_url

LOCUST = Path(sys.executable).with_name("locust")
RATE = 40.0
RUN_S = 4

__all__ = ["target_url"]  # the fixture, shared with test_locust_run


def test_rows_and_stats_of_two_workers_reach_the_master(target_url: str, tmp_path: Path) -> None:
    raw = tmp_path / "master" / "requests.csv"  # only the master is told where to write
    port = free_port("127.0.0.1")
    master = [str(LOCUST), "-f", "loadtests/noop.py", "--headless", "-u", "4", "-r", "4"]
    master += ["-t", f"{RUN_S}s", "--host", target_url, "--arrival-rate", str(RATE)]
    master += ["--raw-out", str(raw), "--scenario", "dist", "--only-summary"]
    master += ["--exit-code-on-error", "0"]  # the 503s of the tiny app are data here
    master += ["--master", "--expect-workers", "2", "--expect-workers-max-wait", "30"]
    master += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    worker = [str(LOCUST), "-f", str(REPO / "loadtests" / "noop.py"), "--worker"]
    worker += ["--master-host", "127.0.0.1", "--master-port", str(port)]
    logs = [(tmp_path / f"{name}.log").open("w") for name in ("master", "w1", "w2")]
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path if cmd is worker else REPO, stdout=log, stderr=log)
        for cmd, log in zip((master, worker, worker), logs, strict=True)
    ]
    try:
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert codes[0] == 0, (tmp_path / "master.log").read_text()[-3000:]

    with raw.open() as f:
        rows = list(csv.DictReader(f))
    stats = json.loads(Path(f"{raw}.stats.json").read_text())
    by_worker = Counter(r["worker"] for r in rows)
    assert set(stats["workers"]) == set(by_worker) == {"0", "1"}
    for index, entry in stats["workers"].items():
        # Every row a worker counted arrived, the last batch included.
        assert by_worker[index] == entry["rows"] > 0
        assert entry["worker_count"] == 2
        for phase in ("start", "end"):
            clock = entry["clock"][phase]
            # One host, one clock: the estimate is off by at most half its round trip.
            assert abs(clock["offset_s"]) <= clock["rtt_s"] / 2 + 1e-3
    assert stats["totals"]["rows"] == len(rows) == stats["totals"]["slots_started"]
    # The workers took alternate slots of one schedule: no slot twice, none skipped.
    starts = sorted(float(r["intended_start"]) for r in rows)
    assert all(abs((b - a) - 1 / RATE) < 1e-5 for a, b in itertools.pairwise(starts))
