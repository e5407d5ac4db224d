"""Child processes: stopping one for good (ask, wait, insist, reap), and the files they may open."""

from __future__ import annotations

import resource
import subprocess
from typing import Any


def stop(process: subprocess.Popen[Any], timeout_s: float = 5.0) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def raise_open_files(wanted: int) -> int:
    """Raise this process's open-file limit towards wanted, as far as the hard limit allows
    (children inherit it: a target holding thousands of connections needs it too); the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    if soft < wanted and (hard == resource.RLIM_INFINITY or soft < hard):
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft
