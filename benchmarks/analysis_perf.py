"""How long `python -m analysis report` takes on a synthetic run of 1,000,000 requests.

    .venv/bin/python -m benchmarks.analysis_perf [--requests 1000000] [--keep DIR]

Writes the run (untimed), then times the report in a child process and prints its wall
time, CPU time and peak RSS (getrusage of the children). Target: <= 15 s, <= 1.5 GiB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.synthetic import write_synthetic_run
from core.contracts import DEFAULT_VARIANTS
from core.scenarios import SCENARIO_NAMES

LIMIT_S, LIMIT_GIB = 15.0, 1.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the run here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        per_run = args.requests // (len(SCENARIO_NAMES) * len(DEFAULT_VARIANTS))
        started = time.perf_counter()
        write_synthetic_run(run_dir, requests_per_run=per_run, duration_s=120.0)
        rows = per_run * len(SCENARIO_NAMES) * len(DEFAULT_VARIANTS)
        print(f"wrote {rows:,} request rows in {time.perf_counter() - started:.1f} s")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "analysis", "report", str(run_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss is in KiB on Linux: the largest child (the analysis, or one chart process).
    peak_gib = after.ru_maxrss / 1024 / 1024
    print(
        f"report: wall {wall:.1f} s (limit {LIMIT_S:g}), CPU {cpu:.1f} s, "
        f"peak RSS {peak_gib:.2f} GiB (limit {LIMIT_GIB:g})"
    )
    return 0 if wall <= LIMIT_S and peak_gib <= LIMIT_GIB else 1


if __name__ == "__main__":
    sys.exit(main())
