"""A client-chosen X-Request-ID correlates; it never decides whose email is sent."""

from __future__ import annotations

import asyncio
import time

import httpx
import pandas as pd
import pytest

from analysis.metrics.load import empty_frame, normalize_deliveries, normalize_requests, raw_dtypes
from analysis.metrics.work import work_ledger, work_table
from core import dataset
from core.contracts import REQUEST_ID_HEADER, WORK_ID_HEADER, raw_columns
from core.db import Store
from core.settings import Settings
from runner.results import delivery_rows
from targets import queued, sync
from tests.support import drain, messages, serve

FACTORIES = {"sync": sync.create_app, "delegated": queued.factory("delegated")}
FACTORIES["background"] = queued.factory("background")
ADDRESSES = (dataset.registered_email(4), dataset.registered_email(5))
RUN = {"scenario": "steady", "variant": "", "repeat": 0}
DEADLINE_S = 30.0


async def delivered(variant: str, settings: Settings, provider: httpx.Client, count: int) -> None:
    """Wait for the variant's work: drain the arq queue, or let `background` finish its tasks."""
    if variant == "delegated":
        await drain(settings)
    deadline = time.monotonic() + DEADLINE_S
    while variant == "background" and len(messages(provider, kind="magic_link")) < count:
        assert time.monotonic() < deadline, "the background tasks sent too few emails"
        await asyncio.sleep(0.05)


def account(
    variant: str, answers: list[httpx.Response], sent: list[dict[str, object]]
) -> dict[str, int]:
    """The analysis's work counts for these logins, as a results folder would give them."""
    run = {**RUN, "variant": variant}
    now = time.time()
    requests = pd.DataFrame(
        [
            {
                **run,
                "endpoint": "login",
                "intended_start": now,
                "start": now,
                "end": now,
                "status": a.status_code,
                "error": "",
                "request_id": a.headers[REQUEST_ID_HEADER],
                "work_id": a.headers[WORK_ID_HEADER],
                "registered": "true",
            }
            for a in answers
        ],
        columns=list(raw_columns("requests")),
    )
    deliveries = pd.DataFrame(delivery_rows(sent, run), columns=list(raw_columns("deliveries")))
    ledger = work_ledger(
        normalize_requests(requests),
        normalize_deliveries(deliveries),
        empty_frame(raw_dtypes("dead_letters")),
    )
    (row,) = work_table(ledger, ["variant"]).to_dict("records")
    return {k: int(row[k]) for k in ("expected", "delivered", "lost", "duplicates")}


@pytest.mark.parametrize("variant", list(FACTORIES))
async def test_two_logins_sharing_a_request_id_send_both_emails_and_both_are_counted(
    variant: str, settings: Settings, store: Store, provider: httpx.Client
) -> None:
    same = {REQUEST_ID_HEADER: "chosen-by-the-client"}
    with serve(FACTORIES[variant](settings)) as url, httpx.Client(base_url=url) as client:
        answers = [client.post("/login", json={"email": a}, headers=same) for a in ADDRESSES]
        assert [a.status_code for a in answers] == [202, 202]
        await delivered(variant, settings, provider, len(ADDRESSES))

    sent = messages(provider, kind="magic_link")
    assert sorted(m["to"] for m in sent) == sorted(ADDRESSES)
    # The header is still echoed for correlation; the work is named by the server.
    assert [a.headers[REQUEST_ID_HEADER] for a in answers] == ["chosen-by-the-client"] * 2
    promised = {a.headers[WORK_ID_HEADER] for a in answers}
    assert len(promised) == 2 and {m["work_id"] for m in sent} == promised
    assert len({m["idempotency_key"] for m in sent}) == 2
    counts = account(variant, answers, sent)
    assert counts == {"expected": 2, "delivered": 2, "lost": 0, "duplicates": 0}
