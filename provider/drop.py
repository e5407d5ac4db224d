"""Ending a client's connection without a complete answer: the reset and lost-response faults.

The app (a FastAPI subclass) remembers the server's own `send` for the current request. Under
uvicorn that is a bound method of the request cycle, which holds the asyncio transport: closing
it, after SO_LINGER 0 for a real TCP RST, leaves uvicorn with a disconnected cycle, so it sends
no 500 and logs nothing. Under any other server the response is started and never finished,
which servers also answer by closing the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from contextvars import ContextVar
from typing import Any, Protocol

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

DISCONNECT_WAIT_S = 1.0
_server_send: ContextVar[Send | None] = ContextVar("server_send", default=None)


class _Transport(Protocol):
    def abort(self) -> None: ...
    def close(self) -> None: ...
    def is_closing(self) -> bool: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class ProviderApp(FastAPI):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _server_send.set(send)
        try:
            await super().__call__(scope, receive, send)
        finally:
            _server_send.reset(token)


def _transport() -> _Transport | None:
    cycle = getattr(_server_send.get(), "__self__", None)
    transport = getattr(cycle, "transport", None)
    needed = ("abort", "close", "is_closing", "get_extra_info")
    if transport is None or not all(hasattr(transport, name) for name in needed):
        return None
    return transport  # type: ignore[no-any-return]


def _linger_zero(transport: _Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # A closed socket whose linger time is zero sends RST instead of FIN.
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class DroppedResponse(Response):
    """A response that never reaches the client: `reset` sends a TCP RST, otherwise a FIN."""

    def __init__(self, *, reset: bool) -> None:
        super().__init__(status_code=202)
        self.reset = reset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = _transport()
        if transport is None or transport.is_closing():
            # No chunk terminator ever follows these headers, so the client sees a cut body.
            await send({"type": "http.response.start", "status": 202, "headers": []})
            return
        if self.reset:
            _linger_zero(transport)
            transport.abort()
        else:
            transport.close()
        # The server marks the request disconnected once the close is processed; until then it
        # would answer a returning app with a 500, so wait (briefly) for it to notice.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DISCONNECT_WAIT_S):
                while (await receive())["type"] != "http.disconnect":
                    pass
