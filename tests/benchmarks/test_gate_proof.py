"""`make gate-proof` on real runs: identical benches are noise, a degraded delegated variant is
a regression, and the output says so with the effect size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runner.conftest import private_env
from tests.runner.helpers import CWD


@pytest.mark.timeout(900)  # three short real benches; a busy machine takes its time
def test_identical_benches_are_noise_and_a_degraded_one_a_regression(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "benchmarks.gate_proof", "--scenarios", "steady"]
    argv += ["--keep", str(tmp_path / "results")]
    done = subprocess.run(
        argv, env=private_env(tmp_path), cwd=CWD, capture_output=True, text=True, timeout=840
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-2000:]
    assert "A/A: 0 of 1 identical reruns called a regression" in out
    assert "verdict: the gate tells noise from a regression" in out
    regressions = [line for line in out.splitlines() if line.startswith("  regression: ")]
    assert regressions and all(line.startswith("  regression: delegated.") for line in regressions)
    assert all("%" in line for line in regressions)  # each with its effect size
    assert len(list((tmp_path / "results").glob("*-aa-first"))) == 1
