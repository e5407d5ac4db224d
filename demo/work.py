"""The page's work numbers: the live rows as the analysis's frames, counted by the analysis.

The demo counts nothing itself: `analysis.metrics.work` decides what was promised, delivered,
pending or lost, as it does for summary.json, so the page and a report cannot disagree.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics.load import empty_frame, normalize_deliveries, normalize_requests, raw_dtypes
from analysis.metrics.work import work_ledger, work_table
from analysis.names import RUN

COUNTS = ("expected", "delivered", "pending", "lost", "dead_lettered")
Json = dict[str, Any]


def read_requests(csv_text: str) -> pd.DataFrame:
    """CSV text (a header, then rows) as the analysis reads raw/requests.csv."""
    dtypes = raw_dtypes("requests")
    if not csv_text:
        return normalize_requests(empty_frame(dtypes))
    rows = pd.read_csv(io.StringIO(csv_text), dtype=dtypes, usecols=lambda c: c in dtypes)
    return normalize_requests(rows)


class WorkBook:
    """Every request, email and dead letter seen so far; counted afresh on each call."""

    def __init__(self, variants: Iterable[str]) -> None:
        self.variants = tuple(variants)
        self.requests = read_requests("")
        self.messages: dict[str, Json] = {}  # message id -> the provider's record, latest
        self.dead: dict[str, Json] = {}  # work id -> its dead-letter event

    def add_requests(self, rows: pd.DataFrame) -> None:
        """Rows as read_requests gives them."""
        if len(rows):
            self.requests = pd.concat([self.requests, rows], ignore_index=True)

    def add_messages(self, messages: Iterable[Mapping[str, Any]]) -> None:
        for m in messages:
            self.messages[str(m.get("id"))] = dict(m)

    def add_job_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        for e in events:
            if e.get("outcome") == "dead_letter" and e.get("work_id"):
                self.dead[str(e["work_id"])] = dict(e)

    def count(self, pending: Iterable[Mapping[str, Any]]) -> dict[str, Json]:
        """Per variant: the analysis's counts and completion times (ms) of the work so far.

        `pending` is the queue's snapshot (each queue adapter's `pending`), taken after the
        requests were read and before the messages: a job that ends in between is then
        delivered, not lost.
        """
        requests = self.requests
        if not len(requests):
            return {name: _numbers(None) for name in self.variants}
        # The demo's variants run side by side, so each email belongs to the run of its request.
        runs = requests.drop_duplicates("work_id")[[*RUN, "work_id"]].dropna(subset=["work_id"])
        deliveries = normalize_deliveries(
            self._frame("deliveries", runs, list(self.messages.values()))
        )
        dead = self._frame("dead_letters", runs, list(self.dead.values()))
        queued = self._frame("pending", runs, [dict(p) for p in pending])
        table = work_table(work_ledger(requests, deliveries, dead, queued), ["variant"])
        found = {str(row["variant"]): row for row in table.to_dict("records")}
        return {name: _numbers(found.get(name)) for name in self.variants}

    @staticmethod
    def _frame(name: str, runs: pd.DataFrame, rows: list[Json]) -> pd.DataFrame:
        """Rows of raw/<name>.csv from JSON records, tagged with their work id's run."""
        dtypes = raw_dtypes(name)
        frame = pd.DataFrame(rows, columns=[c for c in dtypes if c not in RUN])
        for column, dtype in dtypes.items():
            if dtype == "float64" and column in frame:
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        # Work that no request seen so far promised (not yet tailed, or not ours): left out.
        return frame.merge(runs, on="work_id", how="inner")


def _numbers(row: Mapping[Any, Any] | None) -> Json:
    out: Json = {k: int(row[k]) if row else 0 for k in COUNTS}
    for q in ("p50", "p99"):
        value = float(row.get(f"completion_{q}_ms", np.nan)) if row else np.nan
        out[f"completion_{q}_ms"] = round(value, 1) if np.isfinite(value) else None
    return out
