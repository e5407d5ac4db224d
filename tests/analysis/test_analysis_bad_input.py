"""`python -m analysis check|report` on damaged input: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _corrupt_summary(run: Path) -> None:
    (run / "summary.json").write_text('{"schema_version": 1, "results": [')


def _results_not_objects(run: Path) -> None:
    (run / "summary.json").write_text('{"schema_version": 1, "results": [1, 2]}')


def _text_for_a_number(run: Path) -> None:
    summary = json.loads((run / "summary.json").read_text())
    for result in summary["results"]:
        result["latency_ms"]["p99"] = "fast"
    (run / "summary.json").write_text(json.dumps(summary))


def _corrupt_meta(run: Path) -> None:
    (run / "meta.json").write_text("{truncated")


def _corrupt_meta_no_summary(run: Path) -> None:
    (run / "summary.json").unlink()
    (run / "meta.json").write_text("[1, 2")


def _unknown_metric(run: Path) -> None:
    (run / "bad.txt").write_text("delegated.*.*.work.vanished == 0\n")


# (what is broken, the command after `python -m analysis`, what the one line says)
CASES: dict[str, tuple[Callable[[Path], None], list[str], str]] = {
    "missing run folder": (lambda run: shutil.rmtree(run), ["check"], "no results folder at"),
    "corrupt summary.json": (_corrupt_summary, ["check"], "summary.json is not valid JSON"),
    "results not objects": (_results_not_objects, ["check"], "results[0] lacks a scenario"),
    "text for a number": (_text_for_a_number, ["check"], "is 'fast', not a number"),
    "corrupt meta.json": (_corrupt_meta, ["check"], "meta.json is not valid JSON"),
    "corrupt meta.json, no summary": (
        _corrupt_meta_no_summary,
        ["check"],
        "meta.json is not valid JSON",
    ),
    "corrupt meta.json, report": (_corrupt_meta, ["report"], "meta.json is not valid JSON"),
    "unknown metric": (
        _unknown_metric,
        ["check", "--thresholds", "{run}/bad.txt"],
        "unknown metric 'work.vanished",
    ),
    "missing baseline": (
        lambda run: None,
        ["check", "--baseline", "{run}/nope"],
        "no baseline results folder",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case: str, report_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(report_dir, run, ignore=shutil.ignore_patterns("charts", "report.*"))
    damage, command, message = CASES[case]
    damage(run)
    args = [a.replace("{run}", str(run)) for a in command]
    argv = [sys.executable, "-m", "analysis", args[0], str(run), *args[1:]]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("analysis: error: ") and message in line, line
