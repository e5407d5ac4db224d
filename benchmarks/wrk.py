"""wrk, the independent load generator the harness's own figures are held against."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def available() -> bool:
    return shutil.which("wrk") is not None


def rate(
    url: str,
    seconds: int,
    connections: int,
    script: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> float:
    """Requests per second wrk reached with one thread; non-2xx answers are reported."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=preexec_fn
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx answers from {url}", file=sys.stderr)
    return float(match.group(1))
