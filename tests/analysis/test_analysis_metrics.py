"""Metric functions on small hand-made frames with answers worked out by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.enumeration import enumeration_table, verdict, z_score
from analysis.metrics.load import (
    empty_frame,
    normalize_deliveries,
    normalize_requests,
    raw_dtypes,
    runs_frame,
    windows_frame,
)
from analysis.metrics.stats import auc, bootstrap_ratio_ci, group_quantiles, percentile_dict
from analysis.metrics.timing import (
    error_kind,
    in_windows,
    latency_table,
    traffic_table,
    trim_warmup,
    with_run_times,
)
from analysis.metrics.work import work_ledger, work_table

T0 = 1000.0
GROUP = ["scenario", "variant", "endpoint"]


def requests(rows: list[dict[str, Any]]) -> pd.DataFrame:
    defaults: dict[str, Any] = {
        "scenario": "steady",
        "variant": "sync",
        "repeat": 0,
        "endpoint": "login",
        "status": 202,
        "error": "",
        "work_id": None,
        "registered": "",
    }
    frame = pd.DataFrame([{**defaults, **r} for r in rows])
    if "start" not in frame:
        frame["start"] = frame["intended_start"]
    return normalize_requests(frame)


def meta(load_end: float = T0 + 100.0, **scenario: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "runs": [
            {
                "scenario": "steady",
                "variant": "sync",
                "repeat": 0,
                "t0": T0,
                "load_end": load_end,
                "drained_at": load_end + 2,
                "drained": True,
            }
        ],
        "scenarios": [{"name": "steady", **scenario}],
    }


def test_nearest_rank_percentiles_of_1_to_1000_ms() -> None:
    values = np.arange(1.0, 1001.0)
    assert percentile_dict(values) == {
        "p50": 500.0,
        "p90": 900.0,
        "p95": 950.0,
        "p99": 990.0,
        "p999": 999.0,
        "max": 1000.0,
    }


def test_group_quantiles_keep_groups_apart_and_leave_empty_groups_nan() -> None:
    codes = np.array([0, 0, 0, 2, 2], dtype=np.int64)
    values = np.array([3.0, 1.0, 2.0, 10.0, 20.0])
    out = group_quantiles(codes, values, [0.5, 1.0], 3)
    assert out[0].tolist() == [2.0, 3.0]
    assert np.isnan(out[1]).all()
    assert out[2].tolist() == [10.0, 20.0]


def test_latency_from_actual_and_intended_start_and_late_starts() -> None:
    # The second request started 50 ms late (coordinated omission) and took 10 ms.
    frame = requests(
        [
            {"intended_start": T0 + 10, "start": T0 + 10, "end": T0 + 10.010},
            {"intended_start": T0 + 11, "start": T0 + 11.050, "end": T0 + 11.060},
            {"intended_start": T0 + 12, "start": T0 + 12.005, "end": T0 + 12.015},
        ]
    )
    row = latency_table(frame, GROUP, late_threshold_ms=10.0).iloc[0]
    assert row["max_ms"] == pytest.approx(10.0)
    assert row["max_corrected_ms"] == pytest.approx(60.0)
    assert row["late_starts"] == 1  # 5 ms is under the threshold, 50 ms is over


def test_warmup_trimming_uses_each_runs_own_t0() -> None:
    frame = requests([{"intended_start": T0 + s, "end": T0 + s + 0.01} for s in (1, 4, 5, 9)])
    timed = with_run_times(frame, runs_frame(meta(), frame))
    assert trim_warmup(timed, 5.0)["t_rel"].tolist() == [5.0, 9.0]


def test_fault_windows_come_from_the_timeline_relative_to_t0() -> None:
    timeline = [{"at_s": 10, "duration_s": 5, "label": "provider 503", "target": "provider"}]
    run_meta = meta(timeline=timeline)
    frame = requests([{"intended_start": T0 + s, "end": T0 + s + 0.01} for s in (9, 10, 14.9, 15)])
    timed = with_run_times(frame, runs_frame(run_meta, frame))
    windows = windows_frame(run_meta)
    assert windows[["start_s", "end_s"]].values.tolist() == [[10.0, 15.0]]
    assert in_windows(timed, windows).tolist() == [False, True, True, False]


def test_errors_by_kind_rate_and_throughput() -> None:
    frame = requests(
        [
            {"intended_start": T0 + 1, "end": T0 + 1.1},
            {"intended_start": T0 + 2, "end": T0 + 2.1},
            {"intended_start": T0 + 3, "end": T0 + 4, "status": 503},
            {"intended_start": T0 + 4, "end": T0 + 14, "status": 0, "error": "timeout"},
            {"intended_start": T0 + 5, "end": T0 + 5, "status": 0, "error": "connection"},
        ]
    )
    assert error_kind(frame).tolist()[2:] == ["http_503", "timeout", "connection"]
    row = traffic_table(frame, runs_frame(meta(load_end=T0 + 10), frame), GROUP).iloc[0]
    assert row["requests"] == 5
    assert row["error_rate"] == pytest.approx(0.6)
    assert row["throughput_rps"] == pytest.approx(0.2)  # 2 OK over 10 s of load
    assert row["errors_by_kind"] == {"http_503": 1, "timeout": 1, "connection": 1}


def _deliveries(rows: list[dict[str, Any]]) -> pd.DataFrame:
    defaults = {"scenario": "steady", "variant": "sync", "repeat": 0, "attempts": 1}
    frame = pd.DataFrame([{**defaults, **r} for r in rows])
    return normalize_deliveries(frame.assign(last_at=frame["first_at"]))


def test_work_accounting_expected_delivered_pending_lost_duplicates_dead_letters() -> None:
    frame = requests(
        [
            # Promised and delivered twice (2 rows), the first with 3 send attempts.
            {"intended_start": T0 + 1, "end": T0 + 1.1, "work_id": "login:a", "registered": "true"},
            # Promised, dead-lettered.
            {"intended_start": T0 + 2, "end": T0 + 2.1, "work_id": "login:b", "registered": "true"},
            # Promised, never delivered: lost.
            {"intended_start": T0 + 3, "end": T0 + 3.1, "work_id": "login:c", "registered": "true"},
            # Promised, its job still queued when the run stopped waiting: pending, not lost.
            {"intended_start": T0 + 3, "end": T0 + 3.1, "work_id": "login:f", "registered": "true"},
            # Unknown address: nothing promised.
            {
                "intended_start": T0 + 4,
                "end": T0 + 4.1,
                "work_id": "login:d",
                "registered": "false",
            },
            # An error: nothing promised, yet the email went out.
            {
                "intended_start": T0 + 5,
                "end": T0 + 9,
                "work_id": "login:e",
                "registered": "true",
                "status": 503,
            },
            # A webhook and its redelivery: one order, clock starts at the first request.
            {
                "endpoint": "webhook",
                "intended_start": T0 + 6,
                "end": T0 + 6.5,
                "work_id": "order:7",
            },
            {
                "endpoint": "webhook",
                "intended_start": T0 + 8,
                "end": T0 + 8.5,
                "work_id": "order:7",
            },
        ]
    )
    deliveries = _deliveries(
        [
            {"work_id": "login:a", "first_at": T0 + 1.5, "attempts": 3},
            {"work_id": "login:a", "first_at": T0 + 2.0},
            {"work_id": "login:e", "first_at": T0 + 6.0},
            {"work_id": "order:7", "first_at": T0 + 7.0},
        ]
    )
    dead = pd.concat(
        [
            empty_frame(raw_dtypes("dead_letters")),
            pd.DataFrame(
                [{"scenario": "steady", "variant": "sync", "repeat": 0, "work_id": "login:b"}]
            ),
        ]
    )
    run = {"scenario": "steady", "variant": "sync", "repeat": 0}
    pending = pd.DataFrame(
        [{**run, "work_id": w} for w in ("login:f", "login:a", "order:7", "order:7")]
    )  # login:a and order:7 were delivered while their last jobs were finishing
    table = work_table(work_ledger(frame, deliveries, dead, pending), GROUP).set_index("endpoint")
    login, webhook = table.loc["login"], table.loc["webhook"]
    assert (login["expected"], login["delivered"], login["lost"]) == (4, 1, 1)
    assert login["pending"] == 1 and webhook["pending"] == 0
    assert (login["dead_lettered"], login["unpromised"]) == (1, 1)
    assert (login["duplicates"], login["duplicate_attempts"]) == (1, 2)
    assert login["completion_max_ms"] == pytest.approx(500.0)
    assert (webhook["expected"], webhook["delivered"], webhook["lost"]) == (1, 1, 0)
    # Without a pending list (an older run) the same work is lost.
    older = work_table(work_ledger(frame, deliveries, dead), GROUP).set_index("endpoint")
    assert (older.loc["login", "pending"], older.loc["login", "lost"]) == (0, 2)
    assert webhook["completion_max_ms"] == pytest.approx(1000.0)


def test_auc_is_half_when_indistinguishable_and_one_when_separated() -> None:
    assert auc(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.5)
    assert auc(np.array([10.0, 11.0]), np.array([1.0, 2.0])) == pytest.approx(1.0)
    assert auc(np.array([1.0, 3.0]), np.array([2.0])) == pytest.approx(0.5)
    assert verdict(0.55, 0.1) == "indistinguishable"
    assert verdict(0.95, 0.1) == "distinguishable"


def test_a_gap_that_chance_explains_is_not_called_a_leak() -> None:
    # A quick run: ~75 registered and ~19 unknown logins. AUC 0.69 is 2.5 standard errors out.
    z = z_score(0.69, 75, 19)
    assert 2.4 < z < 2.7
    assert verdict(0.69, 0.1, z) == "indistinguishable"
    # The same AUC from a full run's 400 and 94 is far beyond chance.
    assert verdict(0.69, 0.1, z_score(0.69, 400, 94)) == "weakly distinguishable"
    assert verdict(1.0, 0.1, z_score(1.0, 75, 19)) == "distinguishable"


def test_enumeration_table_per_variant() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for variant, slow in (("sync", 0.15), ("delegated", 0.0)):
        for i in range(200):
            registered = i % 2 == 0
            took = 0.003 + rng.uniform(0, 0.001) + (slow if registered else 0.0)
            rows.append(
                {
                    "variant": variant,
                    "intended_start": T0 + i,
                    "end": T0 + i + took,
                    "registered": "true" if registered else "false",
                }
            )
    table = enumeration_table(requests(rows), 0.1).set_index("variant")
    assert table.loc["sync", "auc"] == pytest.approx(1.0)
    assert table.loc["sync", "verdict"] == "distinguishable"
    assert abs(table["auc"].to_dict()["delegated"] - 0.5) < 0.1
    assert table.loc["delegated", "verdict"] == "indistinguishable"


def test_bootstrap_interval_needs_repetitions_and_brackets_the_ratio() -> None:
    one = np.array([10.0])
    assert bootstrap_ratio_ci(one, one, samples=100, confidence=0.95, seed=0) is None
    ci = bootstrap_ratio_ci(
        np.array([100.0, 110, 90]), np.array([10.0, 11, 9]), samples=500, confidence=0.95, seed=0
    )
    assert ci is not None and ci[0] < 10.0 < ci[1] and ci[0] > 5
