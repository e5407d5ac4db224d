"""What every variant's target shares: request ids, body limits, parsing, errors, health routes."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError, field_validator
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import logs, signatures, tracing
from core.contracts import (
    REQUEST_ID_HEADER,
    WORK_ID_HEADER,
    login_work_id,
    new_login_id,
    order_work_id,
)
from core.db import Store, unavailable_errors
from core.payments import EventError, PaymentEvent, parse_event
from core.settings import Settings
from targets.limits import LoginLimits

_HEADER = REQUEST_ID_HEADER.lower().encode()  # ASGI header names are lower-case bytes
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
# The handlers read their bodies themselves (raw, for the signature), so the schema says what
# they accept: clients, docs and the fuzzer see the real contract.
LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["email"],
                    "properties": {
                        "email": {"type": "string", "format": "email", "maxLength": 254}
                    },
                }
            }
        },
    }
}
PAYMENT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "type", "data"],
                    "properties": {
                        "id": {"type": "string", "minLength": 1, "maxLength": 255},
                        "type": {"type": "string"},
                        "data": {"type": "object"},
                    },
                }
            }
        },
    }
}
LOGIN_ACCEPTED = {
    "status": "accepted",
    "message": "If the address is registered, a sign-in link is on its way.",
}


class LoginRequest(BaseModel):
    email: str

    @field_validator("email")
    @classmethod
    def plausible_address(cls, value: str) -> str:
        value = value.strip()
        if len(value) > 254:
            raise ValueError("must be at most 254 characters")
        if not _EMAIL.match(value):
            raise ValueError("must be an email address like name@example.com")
        return value.lower()


class RequestIdMiddleware:
    """Accept a sane X-Request-ID or make one; return it and keep it in `request.state`.

    It is for correlation and logs only: the client chooses it, so no id of work derives from it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == _HEADER), "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"].append((_HEADER, request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


async def request_id(request: Request) -> str:
    return str(request.state.request_id)


def issue_login_id(response: Response) -> str:
    """A fresh id for this login, named in the answer as the work it promised."""
    made = new_login_id()
    response.headers[WORK_ID_HEADER] = login_work_id(made)
    tracing.tag_work(login_work_id(made))
    return made


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def link_base(request: Request) -> str:
    """Where sign-in links point: never the request's Host header, which the client chooses."""
    public = settings_of(request).public_url
    if public:
        return public
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    return f"{request.scope.get('scheme', 'http')}://{host}:{port}"


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# Dependencies are `async def`: FastAPI runs a plain `def` dependency in the thread pool, a hop
# that costs a queued login much of its rate (`make perf`). Each dependency still costs its
# solving on every request, so the login, the hot route, takes its id and queue with plain calls.
RequestIdDep = Annotated[str, Depends(request_id)]
StoreDep = Annotated[Store, Depends(get_store)]


async def read_body(request: Request) -> bytes:
    """The raw body of a JSON request, refusing other content types and oversized bodies."""
    limit = settings_of(request).max_body_bytes
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "Content-Type must be application/json")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body is larger than {limit} bytes")
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise HTTPException(413, f"body is larger than {limit} bytes")
    except ClientDisconnect as exc:
        # Nobody is left to read the answer; say so in the access log rather than a traceback.
        raise HTTPException(400, "client disconnected before sending the whole body") from exc
    return body


async def login_body(request: Request) -> LoginRequest:
    body = await read_body(request)
    if not body.strip():
        raise HTTPException(400, 'body is empty; send {"email": "..."}')
    try:
        login = LoginRequest.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc
    limits: LoginLimits = request.app.state.login_limits
    client = request.client.host if request.client else "unknown"
    wait_s = limits.retry_after_s(login.email, client, time.monotonic())
    if wait_s is not None:
        raise HTTPException(
            429,
            f"too many sign-in requests; try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    return login


async def payment_event(request: Request) -> PaymentEvent:
    """Verify the signature over the raw body before looking inside it."""
    body = await read_body(request)
    settings = settings_of(request)
    try:
        signatures.verify(
            request.headers.get(signatures.HEADER),
            body,
            settings.webhook_secret,
            settings.webhook_tolerance_s,
        )
        event = parse_event(body)
    except (signatures.SignatureError, EventError) as exc:
        raise HTTPException(400, str(exc)) from exc
    tracing.tag_work(order_work_id(event.order_id))
    return event


LoginBody = Annotated[LoginRequest, Depends(login_body)]
PaymentEventDep = Annotated[PaymentEvent, Depends(payment_event)]


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return JSONResponse({"detail": f"malformed JSON: {detail}", "errors": errors}, 400)
    return JSONResponse({"detail": detail, "errors": errors}, 422)


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is down or does not answer: the client may retry; never a 500."""
    logging.getLogger("targets").warning("store unavailable: %r", exc)
    return JSONResponse({"detail": "the database is unavailable; try again later"}, 503)


def create_base_app(settings: Settings, variant: str, **kwargs: Any) -> FastAPI:
    logs.configure(f"target-{variant}", settings.log_level)
    app = FastAPI(title=f"delegate-bench target ({variant})", **tracing.fastapi_options(), **kwargs)
    app.state.settings = settings
    app.state.variant = variant
    app.state.login_limits = LoginLimits(
        settings.login_per_address_per_min, settings.login_per_client_per_min
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(RequestValidationError, validation_error)
    for unavailable in unavailable_errors():
        app.add_exception_handler(unavailable, store_unavailable)
    tracing.instrument_app(app, settings, f"target-{variant}")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "variant": variant}

    @app.get("/noop")
    async def noop() -> dict[str, str]:
        return {}

    return app


def now() -> float:
    return time.time()
