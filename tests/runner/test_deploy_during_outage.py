"""A deploy, then a crash, during a provider outage: the work a process holds dies with it."""

from __future__ import annotations

import csv
import json
import subprocess
from collections import defaultdict
from pathlib import Path

from runner.bench import REPORT_TIMEOUT_S
from tests.runner.helpers import CWD, quick_bench_argv

VARIANTS = ("delegated", "background")


def test_a_deploy_during_an_outage_loses_what_the_process_held_and_no_queued_work(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    argv = quick_bench_argv(
        results, "--scenarios", "deploy-during-outage", "--variants", ",".join(VARIANTS)
    )
    done = subprocess.run(
        argv,
        env=runner_env,
        cwd=CWD,
        capture_output=True,
        text=True,
        timeout=REPORT_TIMEOUT_S + 240,
    )
    assert done.returncode == 0, done.stderr
    run_dir = (results / "latest").resolve()
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["variants"] == list(VARIANTS)
    refused = failed_starts(run_dir / "raw" / "requests.csv")
    for run in meta["runs"]:
        restarts = [e for e in run["events"] if e["kind"] in ("target_term", "target_kill")]
        term, kill = restarts
        assert (term["kind"], kill["kind"]) == ("target_term", "target_kill")
        assert 0 < term["at_s"] < term["healthy_at_s"] < kill["at_s"] < kill["healthy_at_s"]
        assert len({term["pid"], term["replacement_pid"], kill["replacement_pid"]}) == 3
        assert kill["pid"] == term["replacement_pid"]
        assert run["drained"] is True
        # The events are at the signals: no request failed before the first one was sent.
        assert min(refused[run["variant"]]) >= term["at"]
    # The deployed background target was still retrying its emails when its grace ran out.
    (background,) = [r for r in meta["runs"] if r["variant"] == "background"]
    assert "target_grace_kill" in {e["kind"] for e in background["events"]}

    summary = json.loads((run_dir / "summary.json").read_text())
    logins = {r["variant"]: r for r in summary["results"] if r["endpoint"] == "login"}
    assert set(logins) == set(VARIANTS)
    for name, row in logins.items():
        work = row["work"]
        assert work["expected"] > 0, name
        # Every promise is accounted for: nothing counted twice, nothing unexplained.
        settled = work["delivered"] + work["dead_lettered"] + work["pending"] + work["lost"]
        assert work["expected"] == settled, (name, work)
        assert row["error_rate"] > 0, name  # requests in the gaps are errors, not promises
    assert logins["delegated"]["work"]["lost"] == 0  # the queue in Redis outlives the target
    assert logins["background"]["work"]["lost"] >= 1  # held in memory for a retry, then gone


def failed_starts(requests_csv: Path) -> dict[str, list[float]]:
    """Per variant, when each request that got no answer (or a 5xx) was sent."""
    starts: dict[str, list[float]] = defaultdict(list)
    with open(requests_csv, newline="") as f:
        for row in csv.DictReader(f):
            if row["error"] or float(row["status"] or 0) >= 500:
                starts[row["variant"]].append(float(row["start"]))
    return starts
