"""The open-file limit a bench raises for its users and targets: as far as allowed, never lower."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from core.processes import raise_open_files

# Run in a child with a given (soft, hard) limit, so this process keeps its own.
CHILD = """
import resource, sys
from core.processes import raise_open_files
got = raise_open_files(int(sys.argv[1]))
print(got, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def limit_in_child(soft: int, hard: int, wanted: int) -> tuple[int, int]:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(wanted)],
        preexec_fn=limited,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_the_open_file_limit_is_raised_as_far_as_the_hard_limit_allows() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"this machine's hard limit on open files is {hard}")
    # Raised to what is wanted, and the process really has it.
    assert limit_in_child(1024, 2048, 1500) == (1500, 1500)
    # No further than the hard limit.
    assert limit_in_child(1024, 2048, 5000) == (2048, 2048)
    # Never lowered.
    assert limit_in_child(2000, 2048, 1500) == (2000, 2000)


def test_the_limit_this_process_has_is_returned() -> None:
    assert raise_open_files(1) == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
