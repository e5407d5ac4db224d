"""`/control/*`: how the runner and the tests set faults and read what the provider captured."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

from provider.faults import Faults, ResetRequest, Timeline
from provider.state import Provider, ProviderDep


def require_control_token(request: Request, provider: ProviderDep) -> None:
    token = provider.settings.provider_control_token
    if token is None:
        return
    given = request.headers.get("authorization", "")
    if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise HTTPException(401, "control API: send Authorization: Bearer <PROVIDER_CONTROL_TOKEN>")


router = APIRouter(prefix="/control", dependencies=[Depends(require_control_token)])


def _fault_state(provider: Provider) -> dict[str, Any]:
    injector = provider.injector
    active, label = injector.active()
    # Windows are kept on the monotonic clock; report them as unix seconds.
    offset = provider.wall() - injector.clock()
    return {
        "base": injector.base.model_dump(mode="json"),
        "active": active.model_dump(mode="json"),
        "active_label": label,
        "timeline": {
            "set_at": injector.timeline_set_at + offset,
            "events": [
                {
                    **window.event.model_dump(mode="json"),
                    "start_at": window.start + offset,
                    "end_at": window.end + offset,
                }
                for window in injector.schedule
            ],
        },
    }


@router.get("/faults")
async def get_faults(provider: ProviderDep) -> dict[str, Any]:
    return _fault_state(provider)


@router.put("/faults")
async def put_faults(faults: Faults, provider: ProviderDep) -> dict[str, Any]:
    provider.injector.base = faults
    return _fault_state(provider)


@router.post("/timeline")
async def post_timeline(timeline: Timeline, provider: ProviderDep) -> dict[str, Any]:
    provider.injector.set_timeline(timeline)
    return _fault_state(provider)


@router.post("/reset")
async def post_reset(provider: ProviderDep, body: ResetRequest | None = None) -> dict[str, Any]:
    return {"status": "reset", "seed": provider.reset(body.seed if body else None)}


@router.get("/messages")
async def get_messages(
    provider: ProviderDep,
    to: str | None = None,
    kind: str | None = None,
    work_id: str | None = None,
    since: float | None = None,
) -> dict[str, Any]:
    found = provider.capture.messages(to=to, kind=kind, work_id=work_id, since=since)
    return {"messages": [message.as_dict() for message in found]}


@router.get("/counters")
async def get_counters(provider: ProviderDep) -> dict[str, Any]:
    return provider.capture.counters()
