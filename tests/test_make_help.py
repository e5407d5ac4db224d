"""`make help` lists every target of the Makefile with a line that says what it does."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from core.settings import PROJECT_ROOT


def phony_targets() -> list[str]:
    text = (PROJECT_ROOT / "Makefile").read_text()
    found = re.search(r"^\.PHONY:(.*)$", text, re.MULTILINE)
    assert found is not None
    return found[1].split()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_has_a_line_for_every_target() -> None:
    done = subprocess.run(
        ["make", "-s", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    described = {}
    for line in done.stdout.splitlines():
        found = re.match(r"^make (\S+)\s+(\S.*)$", line)
        assert found is not None, line
        described[found[1]] = found[2]
    assert sorted(described) == sorted(phony_targets())
