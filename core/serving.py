"""A real uvicorn server in a thread, for the fuzzer and the tests: no network mocks anywhere."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

START_TIMEOUT_S = 10.0


class ThreadedServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the main thread (pytest's, or the fuzzer's).
        yield


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Run `app` on a real uvicorn server on a free loopback port; yield its base URL."""
    # Proxy headers are trusted from nobody, as the runner starts its targets (TRUSTED_PROXIES).
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "log_level": "warning",
        "proxy_headers": False,
        **config,
    }
    server = ThreadedServer(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{options['host']}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
