"""A run interrupted after the floor, before any scenario: one line that says so, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from benchmarks.synthetic import write_synthetic_run
from core.contracts import FLOOR_SCENARIO


def floor_only_run(path: Path) -> Path:
    write_synthetic_run(path, requests_per_run=50, scenarios=("steady",))
    requests = pd.read_csv(path / "raw" / "requests.csv")
    floor = requests[requests["scenario"] == FLOOR_SCENARIO]
    assert len(floor) > 0
    floor.to_csv(path / "raw" / "requests.csv", index=False)
    meta = json.loads((path / "meta.json").read_text())
    meta.update(complete=False, incomplete_reason="interrupted by SIGINT", runs=[])
    (path / "meta.json").write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize("command", ["check", "report", "reliability"])
def test_a_run_without_a_scenario_is_one_line_not_a_traceback(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = floor_only_run(tmp_path / "run")
    assert main([command, str(run)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "is incomplete" in line and "interrupted by SIGINT" in line
