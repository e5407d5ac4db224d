"""The ticket job's lesson (issue 10): orders finished, ticket work per seat sold, stalled workers.

Per run: the fates of the orders sold and payment -> tickets-email times (raw/orders.csv, store
times on one clock), the ticket programs each job try started (raw/jobs.csv `tickets_run`,
kept or thrown away), jobs ended by their timeout, and the seconds a worker had ready work and
started nothing (job starts against the queue samples).
"""

from __future__ import annotations

from typing import Any, Final, cast

import numpy as np
import pandas as pd

from analysis.metrics.timing import str_keys
from analysis.names import RUN
from core.contracts import FAN_OUT, order_work_id

# Jobs waiting and none started for this long is a stall (and so is every moment after, until
# one starts): 40x the workers' poll delay and 4x the queue's sampling interval, so a busy
# machine's jitter never makes one.
STALL_MIN_S: Final = 2.0
RESOLUTION_S: Final = 0.5  # the queue's sampling interval: a shorter span is below it
PAIR = ["scenario", "variant"]
FATES = ("completed", "dead_lettered", "pending", "never")
TICKET_COLUMNS = (
    "seats_sold",
    "tickets_run",
    "tickets_wasted",
    "work_ratio",
    "orders_sold",
    *(f"orders_{f}" for f in FATES),
    "orders_unfinished",
    "largest_completed_seats",
    "smallest_unfinished_seats",
    "timeouts",
    "stall_s",
)


def design_of(meta: dict[str, Any]) -> dict[str, str]:
    """Each scenario's job design as meta.json recorded it (fan-out when not recorded)."""
    scenarios = [s for s in meta.get("scenarios") or [] if isinstance(s, dict)]
    return {str(s.get("name")): str(s.get("job_design") or FAN_OUT) for s in scenarios}


def order_table(orders: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """Each order sold (its webhook answered 2xx, or it was paid: a stalled worker may never
    run the payment job): seats, payment -> tickets-email seconds (NaN: never) and its fate."""
    named = str_keys(orders).reset_index(drop=True)
    named["work_id"] = [order_work_id(int(i)) for i in named["order_id"]]
    fates = str_keys(ledger[[*RUN, "work_id", "expected", "dead", "queued"]])
    out = named.merge(fates, on=[*RUN, "work_id"], how="left")
    promised = out["expected"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    out = out[promised | out["paid_at"].notna().to_numpy()].reset_index(drop=True)
    out["completion_s"] = out["tickets_sent_at"] - out["paid_at"]
    dead = out["dead"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    queued = out["queued"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    sent = out["tickets_sent_at"].notna().to_numpy()
    out["fate"] = np.select(
        [sent, dead, queued], ["completed", "dead_lettered", "pending"], default="never"
    )
    return out.drop(columns=["expected", "dead", "queued"])


def stall_spans(
    starts: np.ndarray[Any, Any], t: np.ndarray[Any, Any], ready: np.ndarray[Any, Any]
) -> list[tuple[float, float]]:
    """Spans in which work waited (at both samples around the moment: they are 0.5 s apart)
    and no job had started for STALL_MIN_S."""
    order = np.argsort(t)
    t, ready = t[order], np.nan_to_num(ready[order])
    if len(t) < 2:
        return []
    held = (ready[:-1] > 0) & (ready[1:] > 0)
    lows, highs = t[:-1][held], t[1:][held]
    inside = np.sort(starts[(starts > t[0]) & (starts < t[-1])])
    edges = np.concatenate([[t[0]], inside, [t[-1]]])
    long = np.diff(edges) >= STALL_MIN_S
    spans: list[tuple[float, float]] = []
    for g0, g1 in zip(edges[:-1][long], edges[1:][long], strict=True):
        lo, hi = np.maximum(lows, g0 + STALL_MIN_S), np.minimum(highs, g1)
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
            if b - a < RESOLUTION_S and not (spans and spans[-1][1] == a):
                continue
            if spans and spans[-1][1] == a:  # one span across consecutive samples
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
    return spans


def stall_table(jobs: pd.DataFrame, queue_samples: pd.DataFrame) -> pd.DataFrame:
    """Per run: stalled seconds, and the spans (unix seconds) for the timeline chart."""
    starts = {k: g["started_at"].dropna().to_numpy() for k, g in _by_run(jobs)}
    rows = []
    for key, samples in _by_run(queue_samples):
        # arq keeps a running job in its queue until it ends, so its `ready` counts running
        # jobs too (saq's does not): ready minus in progress is work waiting on either.
        waiting = samples["ready"].fillna(0) - samples["in_progress"].fillna(0)
        spans = stall_spans(
            starts.get(key, np.array([])), samples["t"].to_numpy(), waiting.to_numpy()
        )
        rows.append([*key, sum(b - a for a, b in spans), spans])
    return pd.DataFrame(rows, columns=[*RUN, "stall_s", "spans"])


def ticket_table(orders: pd.DataFrame, jobs: pd.DataFrame, stalls: pd.DataFrame) -> pd.DataFrame:
    """Per scenario x variant (repeats summed): the columns of TICKET_COLUMNS.

    `orders` is order_table's, `stalls` stall_table's. Work done / needed is every ticket
    program started over the seats of the orders sold; a variant without job records (sync)
    has no ratio.
    """
    if orders.empty:
        return pd.DataFrame(columns=[*PAIR, *TICKET_COLUMNS])
    tries = str_keys(jobs).assign(
        wasted=jobs["tickets_run"].where(jobs["outcome"].astype("str") != "ok", 0).to_numpy(),
        timeouts=(jobs["outcome"].astype("str") == "timeout").to_numpy(),
    )
    work = tries.groupby(PAIR).agg(
        tickets_run=("tickets_run", "sum"),
        tickets_wasted=("wasted", "sum"),
        timeouts=("timeouts", "sum"),
    )
    counts = pd.crosstab([orders["scenario"], orders["variant"]], orders["fate"])
    counts = counts.reindex(columns=list(FATES), fill_value=0).add_prefix("orders_")
    done = orders["fate"] == "completed"
    by = orders.groupby(PAIR)
    out = pd.DataFrame(
        {
            "seats_sold": by["seats"].sum(),
            "orders_sold": by.size(),
            "largest_completed_seats": orders[done].groupby(PAIR)["seats"].max(),
            "smallest_unfinished_seats": orders[~done].groupby(PAIR)["seats"].min(),
        }
    ).join(counts)
    out = out.join(work, how="left")
    # A variant without a queue (sync) has no job records to count; a queue variant without
    # any (its worker stalled from the start) ran no ticket at all.
    stalled = str_keys(stalls).groupby(PAIR)["stall_s"].sum().reindex(out.index)
    no_queue = stalled.isna()
    for column in ("tickets_run", "tickets_wasted", "timeouts"):
        out[column] = out[column].fillna(0).where(~no_queue)
    out["work_ratio"] = out["tickets_run"] / out["seats_sold"].where(out["seats_sold"] > 0)
    out["orders_unfinished"] = out["orders_sold"] - out["orders_completed"]
    out["stall_s"] = stalled
    return out.reset_index()[[*PAIR, *TICKET_COLUMNS]]


def ticket_table_by_repeat(
    orders: pd.DataFrame, jobs: pd.DataFrame, stalls: pd.DataFrame
) -> pd.DataFrame:
    """ticket_table of each repeat on its own, with its `repeat`: the draws of a seed are the
    same in every repeat, so their spread is the machine's timing against the job timeouts."""
    parts = [
        ticket_table(*(f[f["repeat"].to_numpy() == r] for f in (orders, jobs, stalls))).assign(
            repeat=int(r)
        )
        for r in sorted(set(orders["repeat"].tolist()))
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*PAIR, "repeat"])


SPREAD: Final = {  # per-repeat figures a reader quotes, and how each is written
    "orders_completed": "orders completed {}",
    "timeouts": "jobs timed out {}",
    "tickets_wasted": "tickets thrown away {}",
    "work_ratio": "work {}x",
}


def spread_sentence(repeats: list[dict[str, Any]]) -> str:
    """E.g. "per repeat (3): orders completed 16-52 of 56, ...": empty for a single repeat."""
    if len(repeats) < 2:
        return ""
    parts = []
    for column, text in SPREAD.items():
        values = [v for v in (_finite(r.get(column)) for r in repeats) if v is not None]
        if not values:
            continue
        shown = [f"{v:.2f}" if column == "work_ratio" else f"{v:,.0f}" for v in values]
        low, high = shown[values.index(min(values))], shown[values.index(max(values))]
        part = text.format(low if low == high else f"{low}-{high}")
        if column == "orders_completed":
            part += f" of {int(repeats[0]['orders_sold'])}"
        parts.append(part)
    return f"per repeat ({len(repeats)}): {', '.join(parts)}"


def ticket_verdict(row: dict[str, Any], design: str) -> str:
    """One row of ticket_table in plain words, e.g. "monolithic: 7 of 15 orders never
    completed (the smallest 9 seats); 0.62x the ticket work, 40 thrown away; 7 jobs timed out"."""
    paid, unfinished = int(row["orders_sold"]), int(row["orders_unfinished"])
    if unfinished == 0:
        parts = [f"every one of {paid} orders completed"]
    else:
        fates = [
            f"{int(row[f'orders_{f}'])} {f.replace('_', '-')}"
            for f in FATES[1:]
            if int(row[f"orders_{f}"])
        ]
        parts = [
            f"{unfinished} of {paid} orders never completed ({', '.join(fates)}; the smallest"
            f" {int(row['smallest_unfinished_seats'])} seats)"
        ]
    ratio, timeouts, stall = (_finite(row.get(k)) for k in ("work_ratio", "timeouts", "stall_s"))
    if ratio is not None:
        wasted = int(row["tickets_wasted"])
        parts.append(f"{ratio:.2f}x the ticket work ({wasted} tickets thrown away)")
    if timeouts:
        parts.append(f"{timeouts:.0f} jobs ended by their timeout")
    if stall is not None:
        parts.append(f"worker stalled {stall:.0f} s with work ready" if stall else "no stall")
    return f"{design} ({row['variant']}): {'; '.join(parts)}"


def _finite(value: Any) -> float | None:
    number = pd.to_numeric(value, errors="coerce")
    return float(number) if np.isfinite(number) else None


def _by_run(frame: pd.DataFrame) -> list[tuple[tuple[str, str, int], pd.DataFrame]]:
    groups = str_keys(frame).groupby(RUN)
    return [((str(s), str(v), int(r)), g) for (s, v, r), g in cast(Any, groups)]
