from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.processes import stop

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def running(free_port: int) -> Iterator[str]:
    env = {**os.environ, "PROVIDER_API_KEY": "SG.from-env", "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "provider", "--port", str(free_port)]
    child = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{free_port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            try:
                httpx.get(f"{url}/healthz", timeout=0.5).raise_for_status()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "provider did not start"
                time.sleep(0.05)
        yield url
    finally:
        stop(child)
        if child.stderr:
            child.stderr.close()


def test_python_m_provider_serves_with_settings_from_the_environment(running: str) -> None:
    assert httpx.get(f"{running}/healthz").json() == {"status": "ok"}
    send = f"{running}/v3/mail/send"
    assert (
        httpx.post(send, json={}, headers={"Authorization": "Bearer SG.from-env"}).status_code
        == 400
    )
    assert httpx.post(send, json={}, headers={"Authorization": "Bearer other"}).status_code == 401
