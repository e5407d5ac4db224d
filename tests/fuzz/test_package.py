"""The fuzzer is a product module: `python -m fuzzing` runs without the tests beside it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fuzzing

PACKAGE = Path(fuzzing.__file__).parent


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_fuzzer_imports_nothing_from_tests() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in imported(path)
        if name == "tests" or name.startswith("tests.")
    }
    assert not offenders


def test_python_m_fuzzing_refuses_an_unknown_plan_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fuzzing", "--plans", "nope"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown plan(s) nope" in done.stderr
    assert "Traceback" not in done.stderr


def test_json_into_a_missing_folder_is_refused_before_fuzzing(tmp_path: Path) -> None:
    # `make reliability RUN=results/does-not-exist` once fuzzed for 31 s, then raised.
    target = tmp_path / "does-not-exist" / "fuzz.json"
    done = subprocess.run(
        [sys.executable, "-m", "fuzzing", "--json", str(target)],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"no folder {target.parent}" in line
