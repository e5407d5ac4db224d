"""A target restarted under load (a deploy, then a crash) is accounted for exactly."""

from __future__ import annotations

import csv
import json
import subprocess
from collections import defaultdict
from pathlib import Path

from runner.bench import REPORT_TIMEOUT_S
from tests.runner.helpers import CWD, quick_bench_argv

VARIANTS = ("delegated", "background")


def test_a_target_restart_under_load_loses_no_queued_work(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    argv = quick_bench_argv(
        results,
        "--scenarios",
        "target-restart",
        "--variants",
        ",".join(VARIANTS),
    )
    done = subprocess.run(
        argv,
        env=runner_env,
        cwd=CWD,
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT_S + 180,
    )
    assert done.returncode == 0, done.stderr
    run_dir = (results / "latest").resolve()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["variants"] == list(VARIANTS)
    refused = failed_starts(run_dir / "raw" / "requests.csv")
    for run in meta["runs"]:
        term, kill = run["events"]
        assert (term["kind"], kill["kind"]) == ("target_term", "target_kill")
        assert 0 < term["at_s"] < term["healthy_at_s"] < kill["at_s"] < kill["healthy_at_s"]
        assert len({term["pid"], term["replacement_pid"], kill["replacement_pid"]}) == 3
        assert kill["pid"] == term["replacement_pid"]
        assert run["drained"] is True
        # The events are at the signals: no request failed before the first one was sent.
        assert min(refused[run["variant"]]) >= term["at"]
    summary = json.loads((run_dir / "summary.json").read_text())
    logins = {r["variant"]: r for r in summary["results"] if r["endpoint"] == "login"}
    assert set(logins) == set(VARIANTS)
    for name, row in logins.items():
        work = row["work"]
        assert work["expected"] > 0, name
        # Every promise is accounted for: nothing counted twice, nothing unexplained.
        settled = work["delivered"] + work["dead_lettered"] + work["pending"] + work["lost"]
        assert work["expected"] == settled, (name, work)
        assert row["error_rate"] > 0, name  # requests in the gap are errors, not promises
    assert logins["delegated"]["work"]["lost"] == 0  # the queue in Redis outlives the target
    # background: what it held when SIGKILLed is gone, and counted in `lost` above (often none:
    # a healthy provider takes each email within milliseconds; deploy-during-outage holds more).


def failed_starts(requests_csv: Path) -> dict[str, list[float]]:
    """Per variant, when each request that got no answer (or a 5xx) was sent."""
    starts: dict[str, list[float]] = defaultdict(list)
    with open(requests_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["error"] or float(row["status"] or 0) >= 500:
                starts[row["variant"]].append(float(row["start"]))
    return starts
