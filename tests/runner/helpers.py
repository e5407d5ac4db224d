"""Helpers for running `python -m runner` as a real subprocess, as a user would."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from core.settings import PROJECT_ROOT

CWD = PROJECT_ROOT


def runner_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def quick_bench_argv(results: Path, *args: str) -> list[str]:
    """A quick bench into `results`, without the floor: what the runner's own tests run."""
    return runner_argv("bench", "--results-dir", str(results), "--quick", "--no-floor", *args)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
