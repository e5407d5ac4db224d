"""A capacity step read from raw rows (sync's work judged); `analysis capacity` elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.capacity import Slos, work_ok
from analysis.capacity_steps import STEP_SCENARIO, measure_step
from analysis.cli import main
from analysis.metrics.load import Run, empty_frame, raw_dtypes
from benchmarks.synthetic import write_synthetic_run
from core.contracts import login_work_id

T0, RATE, SECONDS = 1000.0, 20.0, 10.0


def sync_step(answered_share: float) -> Run:
    """One sync step of registered logins: the first `answered_share` answered 200 and
    emailed 0.2 s after their start; the rest timed out, and nothing was sent for them."""
    n = int(RATE * SECONDS)
    intended = T0 + np.arange(n) / RATE
    answered = np.arange(n) < answered_share * n
    ids = [login_work_id(f"login{i}") for i in range(n)]
    key = {"scenario": STEP_SCENARIO, "variant": "sync", "repeat": 0}
    requests = pd.DataFrame(
        {
            **key,
            "endpoint": "login",
            "intended_start": intended,
            "start": intended,
            "end": intended + np.where(answered, 0.25, 10.0),
            "status": np.where(answered, 200, 0),
            "error": np.where(answered, "", "timeout"),
            "work_id": [w if a else None for w, a in zip(ids, answered, strict=True)],
            "registered": pd.array([True] * n, dtype="boolean"),
        }
    )
    sent = pd.DataFrame(
        {
            **key,
            "work_id": [w for w, a in zip(ids, answered, strict=True) if a],
            "first_at": intended[answered] + 0.2,
            "endpoint": "login",
        }
    )
    runs = pd.DataFrame([{**key, "t0": T0, "load_end": T0 + SECONDS}])
    empty = {name: empty_frame(raw_dtypes(name)) for name in ("dead_letters", "pending")}
    return Run(
        path=Path("synthetic"),
        meta={},
        runs=runs,
        windows=pd.DataFrame(),
        requests=requests,
        deliveries=sent,
        dead_letters=empty["dead_letters"],
        pending=empty["pending"],
        queue_samples=empty_frame(raw_dtypes("queue_samples")),
        process_samples=empty_frame(raw_dtypes("process_samples")),
    )


def test_sync_work_that_keeps_up_passes() -> None:
    step = measure_step(sync_step(1.0), "sync", {"repeat": 0, "rate": RATE})
    assert step.completion_p99_s is not None and abs(step.completion_p99_s - 0.2) < 1e-6
    assert step.slope is not None and abs(step.slope.per_s) < 0.5
    assert work_ok(step, Slos())


def test_sync_work_asked_for_and_never_done_fails_the_step() -> None:
    # Half the logins timed out: their clients were promised nothing, and their emails were
    # never sent. Counted only by what was promised, the work would look on time.
    step = measure_step(sync_step(0.5), "sync", {"repeat": 0, "rate": RATE})
    assert step.completion_p99_s == float("inf")
    assert step.slope is not None and step.slope.per_s > 10  # asked for, not done, piling up
    assert step.error_rate > 0.3
    assert not work_ok(step, Slos())


def test_capacity_of_a_run_that_is_no_capacity_run_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_synthetic_run(tmp_path / "run", requests_per_run=50, scenarios=("steady",))
    assert main(["capacity", str(run)]) == 2
    err = capsys.readouterr().err
    assert "is not a capacity run" in err and err.count("\n") == 1
