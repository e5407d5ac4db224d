"""The deliberately degraded delegated variant: it waits for its job, so its client waits too."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from core import dataset
from core.contracts import WORK_ID_HEADER
from core.db import Store
from core.settings import Settings
from targets import queued
from tests.support import burst_worker, messages, serve


async def test_a_delegated_target_made_to_await_its_job_answers_after_the_email(
    settings: Settings, store: Store, provider: httpx.Client
) -> None:
    provider.put("/control/faults", json={"latency": {"kind": "fixed", "ms": 300}})
    degraded = settings.model_copy(update={"delegated_await_job_s": 5.0})
    worker = burst_worker(degraded, burst=False)
    running = asyncio.create_task(worker.main())
    try:
        with serve(queued.create_app(degraded, "delegated")) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                answer = await client.post(
                    "/login",
                    json={"email": dataset.registered_email(1)},
                    headers={"X-Request-ID": "slow-1"},
                )
        assert answer.status_code == 202
        assert answer.elapsed.total_seconds() >= 0.3  # the provider's latency, now the client's
        work_id = answer.headers[WORK_ID_HEADER]
        assert len(messages(provider, work_id=work_id)) == 1  # sent before the answer
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await worker.close()
