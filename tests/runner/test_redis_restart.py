"""A Redis crash mid-run is part of the scenario, not a fault of the harness."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.runner.helpers import CWD, quick_bench_argv


def test_redis_restart_completes_and_records_the_restart(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    results = tmp_path / "results"
    argv = quick_bench_argv(
        results,
        "--no-report",
        "--scenarios",
        "redis-restart",
        "--duration-s",
        "3",
    )
    done = subprocess.run(
        argv, env=runner_env, cwd=CWD, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    meta = json.loads((results / "latest" / "meta.json").read_text())
    assert meta["complete"] is True and meta["incomplete_reason"] is None
    (run,) = [r for r in meta["runs"] if r["variant"] == "delegated"]
    kinds = [e["kind"] for e in run["events"]]
    assert kinds[:2] == ["redis_kill", "redis_restart"]
    kill, back = run["events"][:2]
    assert back["appendonly"] is True and back["pid"] != kill["pid"]
    assert 0 < kill["at_s"] < back["at_s"]
    assert run["drained"] is True
    # Workers that died with the connection were replaced, each recorded.
    assert all(e["replacement_pid"] for e in run["events"] if e["kind"] == "worker_died")
    assert "redis-restart x delegated" in done.stderr
