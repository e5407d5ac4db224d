"""The lock file pins every package pyproject.toml asks for, so two runs install the same code."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def test_every_requirement_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    pinned = {
        _name(line)
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if re.match(r"[A-Za-z0-9]", line) and "==" in line
    }
    missing = sorted(wanted - pinned)
    assert not missing, f"not in requirements.lock (run `make lock`): {', '.join(missing)}"
