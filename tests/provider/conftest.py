"""A real uvicorn server in a thread, serving a fresh fake provider per test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from provider.app import create_app
from tests import support

API_KEY = "SG.test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@contextlib.contextmanager
def serve(app: FastAPI, http: str = "auto", loop: str = "auto") -> Iterator[str]:
    with support.serve(app, http=http, loop=loop, lifespan="off") as url:
        yield url


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "provider_api_key": API_KEY,
        "provider_control_token": None,
        "provider_hang_max_s": 2.0,
        "seed": 7,
        "log_level": "WARNING",
    }
    return Settings(**{**values, **overrides})


def _mail(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [
            {
                "to": [{"email": "user1@example.com", "name": "User One"}],
                "custom_args": {"work_id": "login:abc", "kind": "magic", "request_id": "abc"},
            }
        ],
        "from": {"email": "login@delegate-bench.test"},
        "subject": "Your sign-in link",
        "content": [
            {"type": "text/plain", "value": "Sign in: http://t/login/verify?token=tok123"},
            {"type": "text/html", "value": "<a href='http://t/login/verify?token=tok123'>in</a>"},
        ],
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


@pytest.fixture
def mail() -> Callable[..., dict[str, Any]]:
    """A body as SendGrid's client sends it; keywords replace top-level fields, `...` drops one."""
    return _mail


@pytest.fixture
def auth() -> dict[str, str]:
    return dict(AUTH)


@pytest.fixture
def start_provider() -> Iterator[Callable[..., str]]:
    """Start a provider with its own settings; every one started is stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(*, http: str = "auto", loop: str = "auto", **settings: Any) -> str:
            app = create_app(make_settings(**settings))
            return stack.enter_context(serve(app, http=http, loop=loop))

        yield start


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(create_app(make_settings())) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """A client of a provider just reset, so each test starts from nothing."""
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        client.post("/control/reset").raise_for_status()
        yield client
