"""X-Forwarded-* count only from the proxies TRUSTED_PROXIES names, in targets the runner starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from core import dataset
from core.contracts import WORK_ID_HEADER
from core.db import Store
from core.processes import stop
from core.redis_server import free_port
from core.settings import Settings
from runner.commands import target_command
from tests.support import messages

DEADLINE_S = 60.0
PER_CLIENT = 2


@contextmanager
def sync_target(settings: Settings, trusted_proxies: str) -> Iterator[httpx.Client]:
    """The sync target in its own uvicorn process, started with the runner's command line."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_PATH": str(settings.database_path),
        "DATABASE_URL": "",
        "PROVIDER_URL": settings.provider_url,
        "LOGIN_PER_CLIENT_PER_MIN": str(PER_CLIENT),
        "TRUSTED_PROXIES": trusted_proxies,
        "FORWARDED_ALLOW_IPS": "*",  # uvicorn's own fallback must not matter either
        "LOG_LEVEL": "WARNING",
    }
    command = target_command(sys.executable, "sync", "127.0.0.1", port, "warning", trusted_proxies)
    process = subprocess.Popen(command, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + DEADLINE_S
            while True:
                assert process.poll() is None, "the target exited"
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the target never became healthy"
                time.sleep(0.05)
            yield client
    finally:
        stop(process)


def logins(client: httpx.Client, forwarded: dict[str, str], count: int) -> list[httpx.Response]:
    """Logins for different registered addresses, each claiming another client address."""
    return [
        client.post(
            "/login",
            json={"email": dataset.registered_email(i)},
            headers={**forwarded, "X-Forwarded-For": f"203.0.113.{i}"},
        )
        for i in range(1, count + 1)
    ]


def link_of(provider: httpx.Client, answer: httpx.Response) -> str:
    (message,) = messages(provider, work_id=answer.headers[WORK_ID_HEADER])
    return str(message["text"])


def test_by_default_a_loopback_client_picks_neither_the_scheme_nor_its_address(
    settings: Settings, store: Store, provider: httpx.Client
) -> None:
    with sync_target(settings, "") as client:
        answers = logins(client, {"X-Forwarded-Proto": "https"}, PER_CLIENT + 1)
        assert [a.status_code for a in answers] == [202] * PER_CLIENT + [429]
        assert f"{client.base_url}/login/verify?token=" in link_of(provider, answers[0])


def test_a_named_proxy_is_trusted(settings: Settings, store: Store, provider: httpx.Client) -> None:
    with sync_target(settings, "127.0.0.1") as client:
        answers = logins(client, {"X-Forwarded-Proto": "https"}, PER_CLIENT + 1)
        # Each forwarded client has its own budget, and the proxy says the scheme.
        assert [a.status_code for a in answers] == [202] * (PER_CLIENT + 1)
        assert "https://127.0.0.1:" in link_of(provider, answers[0])
