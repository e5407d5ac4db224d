"""The README's scale-out recipe across five namespace hosts: the same accounting as one host."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from core.contracts import CLOCK_OFFSETS, PROVIDER_CLOCK, locust_worker_clock
from scaleout.multihost import run
from scaleout.netns import unavailable

pytestmark = pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")


def test_steady_and_outage_across_hosts(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    run_dir = run("steady,outage", tmp_path / "results", logs)

    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["complete"], meta.get("incomplete_reason")
    assert meta["database"]["kind"] == "postgresql"
    assert {"target-sync", "target-delegated", "locust-workers"} <= set(meta["not_sampled"])
    with (run_dir / "raw" / "requests.csv").open() as f:
        rows = list(csv.DictReader(f))
    for record in meta["runs"]:
        key = (record["scenario"], record["variant"], str(record["repeat"]))
        workers = {r["worker"] for r in rows if (r["scenario"], r["variant"], r["repeat"]) == key}
        assert workers == {"0", "1"}, key  # rows from both remote Locust workers
        clocks = record[CLOCK_OFFSETS]
        for host in (PROVIDER_CLOCK, locust_worker_clock("0"), locust_worker_clock("1")):
            assert {"start", "end", "offset_s"} <= set(clocks[host]), (key, host)

    summary = json.loads((run_dir / "summary.json").read_text())
    work = {
        (r["scenario"], r["variant"]): r["work"]
        for r in summary["results"]
        if r["endpoint"] == "login"
    }
    assert {s for s, _ in work} == {"steady", "outage"}
    for (scenario, _variant), w in work.items():
        assert w["lost"] == 0 and w["pending"] == 0, (scenario, w)
        assert w["delivered"] == w["expected"] > 0, (scenario, w)
    # Torn down: no namespace of ours is left.
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "-sw" not in left
