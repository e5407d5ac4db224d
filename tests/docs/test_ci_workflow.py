"""The GitHub Actions example passes GitHub's workflow schema and actionlint, and a broken
copy of it does not: the two checks really look."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "github-actions.yml"
BIN = Path(sys.executable).parent


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    # The schema check-jsonschema vendors (SchemaStore's github-workflow.json): no network.
    command = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "actionlint"), "-no-color", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=path.parent)


def test_the_workflow_matches_githubs_schema() -> None:
    done = check_jsonschema(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_passes_actionlint() -> None:
    done = actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("old", "new", "caught_by"),
    [
        ("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", "schema"),
        ("steps.gate.outputs.status != '0'", "steps.gatee.outputs.status != '0'", "actionlint"),
    ],
)
def test_a_broken_workflow_is_caught(tmp_path: Path, old: str, new: str, caught_by: str) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "bench.yml"
    broken.write_text(text.replace(old, new))
    check = check_jsonschema if caught_by == "schema" else actionlint
    done = check(broken)
    assert done.returncode != 0, done.stdout
