"""The fake email provider's app factory: `uvicorn provider.app:create_app --factory`."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.logs import configure
from core.settings import Settings
from provider import control, send
from provider.drop import ProviderApp
from provider.state import Provider


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """What was wrong, in SendGrid's shape too, never echoing the input (it may hold NaN)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body") or None,
            "message": str(e.get("msg", "invalid")),
            "help": None,
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure("provider", settings.log_level)
    app = ProviderApp(title="delegate-bench fake email provider")
    app.state.provider = Provider.from_settings(settings)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.include_router(send.router)
    app.include_router(control.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/clock")
    async def clock() -> dict[str, float]:
        return {"time": time.time()}  # the runner estimates this host's clock offset with it

    return app
