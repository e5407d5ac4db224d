"""The fake email provider's app factory: `uvicorn provider.app:create_app --factory`."""

from __future__ import annotations

from fastapi import FastAPI

from core.logs import configure
from core.settings import Settings
from provider import control, send
from provider.drop import ProviderApp
from provider.state import Provider


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure("provider", settings.log_level)
    app = ProviderApp(title="delegate-bench fake email provider")
    app.state.provider = Provider.from_settings(settings)
    app.include_router(send.router)
    app.include_router(control.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
