"""`python -m runner.capacity` as a user runs it: a real stack, a real queue, real Locust."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path
from subprocess import PIPE, CompletedProcess

import pytest

from tests.runner.helpers import CWD, runner_argv

SLOTS = 2  # WORKER_MAX_JOBS: one worker with two job slots
RUN_TIMEOUT_S = 330.0


def run_or_stop(argv: list[str], env: dict[str, str], timeout_s: float) -> CompletedProcess[str]:
    """Run it; past the timeout, SIGTERM it, so it stops and reaps its stack (a SIGKILL, as
    subprocess.run sends, would leave Redis, the targets and the workers running)."""
    with subprocess.Popen(argv, cwd=CWD, env=env, stdout=PIPE, stderr=PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.terminate()
            out, err = proc.communicate(timeout=60)
            raise AssertionError(f"over {timeout_s:.0f}s, stopped: {err[-2000:]}") from None
    return CompletedProcess(argv, proc.returncode, out, err)


def capacity_argv(results: Path, *args: str) -> list[str]:
    return [*runner_argv()[:-1], "runner.capacity", "--results-dir", str(results), *args]


@pytest.mark.timeout(420)  # ~60 s of steps; a busy machine takes its time
def test_the_work_knee_is_found_from_a_queue_whose_workers_are_limited(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    env = {**runner_env, "WORKER_MAX_JOBS": str(SLOTS)}
    argv = capacity_argv(
        tmp_path,
        *("--variants", "delegated", "--start-rps", "4", "--max-rps", "32"),
        *("--step-s", "5", "--harness-stage-s", "2", "--max-bisections", "2"),
    )
    done = run_or_stop(argv, env, RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    found = summary["capacity"]["delegated"]
    work, client = found["work"], found["client"]
    # Two slots, each email ~150 ms at the median (the provider's lognormal), for the logins
    # of registered addresses (an unknown one's job ends at the lookup): no faster than
    # 2 ÷ (share x 150 ms), slower by the mean's tail and arq's polling.
    with open(run_dir / "raw" / "requests.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["scenario"] == "capacity"]
    share = sum(r["registered"] == "true" for r in rows) / len(rows)
    latency = meta["scenarios"][0]["faults"]["latency"]
    slots_rps = SLOTS / (share * latency["median_ms"] / 1000)
    assert work["bound"] == "measured", found
    assert work["low"] <= slots_rps * 1.1 and work["high"] >= slots_rps * 0.5, (slots_rps, found)
    assert summary["results"][0]["capacity"]["work_rps"] == work["low"]
    # What the search saw above the knee: a queue that grew.
    above = [s for s in found["steps"] if s["rate"] >= work["high"]]
    assert above and all(s["slope_per_s"] > 0 for s in above if not s["work_ok"]), found
    # The client does not wait for the work: it keeps up well past the workers' rate.
    assert client["bound"] == "lower" or client["low"] > work["high"], found
    if client["bound"] == "lower":  # as far as the harness went: a bound, never a number
        assert found["client_rps"] is None and client["text"] == "≥ 32/s (harness limit)"
    assert (run_dir / "charts" / "capacity.png").stat().st_size > 0
    assert "| delegated |" in (run_dir / "capacity.md").read_text()


def test_an_unknown_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        capacity_argv(tmp_path, "--scenario", "nope"),
        cwd=CWD,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown scenario nope") and done.stderr.count("\n") == 1
