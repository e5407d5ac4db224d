"""GET /login/verify, the same for every variant: consume a magic link once."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from core import magic_links
from core.db import LinkState, Store
from targets.base import now

_REFUSALS = {
    LinkState.UNKNOWN: (404, "unknown sign-in link"),
    LinkState.USED: (410, "this sign-in link was already used; ask for a new one"),
    LinkState.EXPIRED: (410, "this sign-in link has expired; ask for a new one"),
}


def verify_link(store: Store, token: str | None) -> JSONResponse:
    if not token:
        return JSONResponse({"detail": "the token query parameter is required"}, 400)
    state, user_id = magic_links.consume(store, token, now())
    if state is LinkState.OK:
        return JSONResponse({"status": "signed_in", "user_id": user_id})
    status, detail = _REFUSALS[state]
    return JSONResponse({"detail": detail}, status)
