"""The ticket job's lesson and clock offsets, on small frames and factory runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics.compute import compute_metrics
from analysis.metrics.load import empty_frame, load_run, raw_dtypes
from analysis.metrics.summary_json import ticket_verdicts
from analysis.metrics.tickets import (
    STALL_MIN_S,
    order_table,
    stall_table,
    ticket_table,
    ticket_table_by_repeat,
)
from analysis.names import AnalysisSettings
from benchmarks.synthetic import write_synthetic_run
from core.contracts import PROVIDER_CLOCK, order_work_id

RUN: dict[str, Any] = {"scenario": "big-orders-monolithic", "variant": "delegated", "repeat": 0}


def frame(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    dtypes = raw_dtypes(name)
    if not rows:
        return empty_frame(dtypes)
    out = pd.DataFrame([{**RUN, **r} for r in rows])
    return out.astype({k: v for k, v in dtypes.items() if k in out and k != "order_id"})


def ledger(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {**RUN, "expected": True, "dead": False, "queued": False}
    return pd.DataFrame([{**base, **r} for r in rows])


def job(start: float, outcome: str = "ok", tickets: int = 0) -> dict[str, Any]:
    times = {"enqueued_at": start, "started_at": start, "ended_at": start + 1}
    return {"job_id": "j", "try": 1, **times, "outcome": outcome, "tickets_run": tickets}


def test_a_timed_out_monolithic_try_counts_its_thrown_away_tickets() -> None:
    # Order 1 (3 seats) done in one try; order 2 (10 seats): a try made 6 tickets, timed out,
    # and was dead-lettered; order 3 (4 seats) was promised but its payment never ran.
    orders = frame(
        "orders",
        [
            {"order_id": 1, "seats": 3, "paid_at": 10.0, "tickets_sent_at": 14.5},
            {"order_id": 2, "seats": 10, "paid_at": 11.0, "tickets_sent_at": np.nan},
            {"order_id": 3, "seats": 4, "paid_at": np.nan, "tickets_sent_at": np.nan},
            {"order_id": 4, "seats": 9, "paid_at": np.nan, "tickets_sent_at": np.nan},
        ],
    )
    fates = ledger(
        [
            {"work_id": order_work_id(1)},
            {"work_id": order_work_id(2), "dead": True},
            {"work_id": order_work_id(3), "queued": True},
        ]
    )
    table = order_table(orders, fates)
    # Order 4 was named by a failed webhook only: never sold.
    assert table["order_id"].tolist() == [1, 2, 3]
    assert table["fate"].tolist() == ["completed", "dead_lettered", "pending"]
    assert table["completion_s"].tolist()[0] == 4.5
    jobs = frame("jobs", [job(10.0, "ok", 3), job(11.0, "timeout", 6)])
    quiet = [{"t": t, "ready": 0.0, "in_progress": 1.0} for t in (10.0, 10.5, 11.0)]
    stalls = stall_table(jobs, frame("queue_samples", quiet))
    row = ticket_table(table, jobs, stalls).iloc[0]
    assert (row["seats_sold"], row["tickets_run"], row["tickets_wasted"]) == (17, 9, 6)
    assert row["work_ratio"] == 9 / 17
    assert (row["orders_completed"], row["orders_dead_lettered"], row["orders_pending"]) == (
        1,
        1,
        1,
    )
    assert (row["orders_unfinished"], row["timeouts"]) == (2, 1)
    assert (row["largest_completed_seats"], row["smallest_unfinished_seats"]) == (3, 4)


def test_a_stall_is_time_with_jobs_waiting_and_none_started() -> None:
    # Jobs start every 0.2 s until t=2, then nothing until t=9 while the queue holds 5 waiting
    # jobs (arq counts the one running as ready too): stalled from 2 s after the last start.
    starts = [i * 0.2 for i in range(11)] + [9.0, 9.5, 10.5]
    samples = [
        {"t": t / 2, "ready": 6.0 if 2 <= t / 2 <= 9 else 0.0, "in_progress": 1.0}
        for t in range(0, 23)
    ]
    jobs = frame("jobs", [job(s) for s in starts])
    stalls = stall_table(jobs, frame("queue_samples", samples))
    (spans,) = stalls["spans"].tolist()
    assert spans == [(2.0 + STALL_MIN_S, 9.0)]
    assert stalls["stall_s"].tolist() == [7.0 - STALL_MIN_S]


def test_a_quiet_queue_is_no_stall() -> None:
    samples = [{"t": t / 2, "ready": 1.0, "in_progress": 1.0} for t in range(0, 40)]
    stalls = stall_table(frame("jobs", [job(0.0)]), frame("queue_samples", samples))
    assert stalls["stall_s"].tolist() == [0.0]


def test_completion_times_are_corrected_for_the_providers_clock(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"requests_per_run": 200, "scenarios": ("steady",), "floor_rate": 0}
    same = write_synthetic_run(tmp_path / "same", **kwargs)
    ahead = write_synthetic_run(tmp_path / "ahead", clock_offsets={PROVIDER_CLOCK: 2.0}, **kwargs)
    raw = [pd.read_csv(p / "raw" / "deliveries.csv")["first_at"] for p in (same, ahead)]
    assert np.allclose(raw[1] - raw[0], 2.0)  # the provider's clock ran 2 s ahead
    settings = AnalysisSettings(warmup_s=1.0, bootstrap_samples=10)
    results = [compute_metrics(load_run(p), settings).results for p in (same, ahead)]
    columns = ["completion_p50_ms", "completion_max_ms"]
    both = [r.set_index(["scenario", "variant", "endpoint"])[columns] for r in results]
    assert np.allclose(both[0].dropna().to_numpy(), both[1].dropna().to_numpy(), atol=0.01)


def test_repeats_keep_their_own_figures_and_say_their_spread() -> None:
    # The same two orders each repeat (one seed, the same draws); in repeat 1 the machine was
    # slower and order 2's try ran into the job timeout: a summed table would hide that.
    def repeat(r: int, timed_out: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        at = {"repeat": r}
        sent_2 = np.nan if timed_out else 15.0
        orders = frame(
            "orders",
            [
                {**at, "order_id": 1, "seats": 3, "paid_at": 10.0, "tickets_sent_at": 14.0},
                {**at, "order_id": 2, "seats": 10, "paid_at": 11.0, "tickets_sent_at": sent_2},
            ],
        )
        fates = ledger(
            [{**at, "work_id": order_work_id(i), "dead": i == 2 and timed_out} for i in (1, 2)]
        )
        tries = [
            job(10.0, "ok", 3),
            job(11.0, "timeout" if timed_out else "ok", 6 if timed_out else 10),
        ]
        jobs = frame("jobs", [{**at, **t} for t in tries])
        samples = frame(
            "queue_samples",
            [{**at, "t": t, "ready": 0.0, "in_progress": 1.0} for t in (10.0, 11.0)],
        )
        return order_table(orders, fates), jobs, stall_table(jobs, samples)

    parts = [repeat(0, False), repeat(1, True)]
    orders, jobs, stalls = (pd.concat([p[i] for p in parts], ignore_index=True) for i in range(3))
    by_repeat = ticket_table_by_repeat(orders, jobs, stalls)
    assert by_repeat["orders_completed"].tolist() == [2, 1]
    assert by_repeat["timeouts"].tolist() == [0, 1]
    (entry,) = ticket_verdicts(ticket_table(orders, jobs, stalls), {}, by_repeat)
    assert "per repeat (2): orders completed 1-2 of 2, jobs timed out 0-1" in entry["verdict"]
    assert [r["orders_completed"] for r in entry["per_repeat"]] == [2, 1]
    (single,) = ticket_verdicts(ticket_table(*parts[0]), {}, ticket_table_by_repeat(*parts[0]))
    assert "per repeat" not in single["verdict"]
