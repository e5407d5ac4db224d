"""`POST /v3/mail/send`: SendGrid's mail send, with the faults in force applied."""

from __future__ import annotations

import asyncio
import http
import logging
import math
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from core.logs import event
from provider import refusals
from provider.drop import DroppedResponse
from provider.injector import Quota
from provider.mail import parse_mail
from provider.refusals import ApiError
from provider.state import Provider, ProviderDep

router = APIRouter()
logger = logging.getLogger(__name__)
HANG_POLL_S = 0.1
# SendGrid's documented limit is 30 MB for the whole message, attachments included; here the
# JSON body is the message, so a body above 30 MiB is refused before it is read any further.
MAX_BODY_BYTES = 30 * 1024 * 1024


def _rate_headers(provider: Provider, quota: Quota) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(quota.limit),
        "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": str(math.ceil(provider.wall() + quota.reset_in_s)),
    }


def _errors(status: int, errors: list[ApiError], headers: dict[str, str]) -> JSONResponse:
    content = {"errors": [error.as_dict() for error in errors]}
    return JSONResponse(content, status_code=status, headers=headers)


def _authorized(provider: Provider, request: Request) -> bool:
    expected = f"Bearer {provider.settings.provider_api_key}"
    given = request.headers.get("authorization", "")
    return secrets.compare_digest(given.encode(), expected.encode())


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _client_gave_up(request: Request, max_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    while (left := deadline - loop.time()) > 0:
        if await request.is_disconnected():
            return True
        await asyncio.sleep(min(HANG_POLL_S, left))
    return await request.is_disconnected()


@router.post("/v3/mail/send")
async def send_mail(request: Request, provider: ProviderDep) -> Response:
    # Order: auth -> body (size, then content) -> timeline window -> rate limit ->
    # error/hang/reset -> latency -> record -> lost response. Bad requests never spend a token
    # or a draw; a token is spent before the failure draw, as a real provider counts requests it
    # then fails; only requests that survive every failure are recorded, and a lost response is
    # lost after recording.
    capture, injector = provider.capture, provider.injector
    capture.events["requests"] += 1
    faults, label = injector.active()
    headers = _rate_headers(provider, injector.quota(faults, take=False))

    def answer(status: int, message: str, field: str | None = None) -> JSONResponse:
        capture.statuses[status] += 1
        return _errors(status, [ApiError(field, message)], headers)

    if not _authorized(provider, request):
        capture.events["unauthorized"] += 1
        return answer(401, refusals.UNAUTHORIZED)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        capture.events["invalid"] += 1
        return answer(415, refusals.NOT_JSON_CONTENT_TYPE)
    try:
        body = await _read_body(request, MAX_BODY_BYTES)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is left to read it
    if body is None:
        capture.events["invalid"] += 1
        return answer(413, refusals.TOO_LARGE)
    parsed = parse_mail(body)
    if isinstance(parsed, list):
        capture.events["invalid"] += 1
        capture.statuses[400] += 1
        return _errors(400, parsed, headers)

    quota = injector.quota(faults, take=True)
    headers = _rate_headers(provider, quota)
    if not quota.allowed:
        capture.events["rate_limited"] += 1
        capture.fault_kinds["rate_limit"] += 1
        headers["Retry-After"] = str(quota.retry_after_s)
        return answer(429, "too many requests")

    decision = injector.decide(faults)
    request_id = request.headers.get("x-request-id")
    fields = {"request_id": request_id, "window": label}
    if decision.outcome == "error" and decision.error is not None:
        status = decision.error.status
        capture.events["errors"] += 1
        capture.fault_kinds[f"error_{status}"] += 1
        retry_after = decision.error.retry_after_s
        if retry_after is None and status == 429:
            retry_after = 1
        if retry_after is not None:
            headers["Retry-After"] = str(math.ceil(retry_after))
        event(logger, "injected error", status=status, **fields)
        try:
            phrase = http.HTTPStatus(status).phrase.lower()
        except ValueError:
            phrase = "injected error"
        return answer(status, phrase)
    if decision.outcome == "hang":
        capture.events["hung"] += 1
        capture.fault_kinds["hang"] += 1
        max_s = faults.hang_max_s or provider.settings.provider_hang_max_s
        gave_up = await _client_gave_up(request, max_s)
        event(logger, "injected hang", client_gave_up=gave_up, **fields)
        if gave_up:
            return Response(status_code=504)  # nobody is left to read it
        return answer(504, "the request timed out")
    if decision.outcome == "reset":
        capture.events["reset"] += 1
        capture.fault_kinds["reset"] += 1
        event(logger, "injected connection reset", **fields)
        return DroppedResponse(reset=True)

    if decision.latency_s > 0:
        await asyncio.sleep(decision.latency_s)
    # A client that timed out during the delay is still accepted, as a real provider would.
    first = parsed.personalizations[0].to[0].email
    message = capture.record(
        to=first,
        subject=parsed.subject_of_first(),
        custom_args=parsed.custom_args_of_first(),
        request_id=request_id,
        idempotency_key=request.headers.get("idempotency-key") or None,
        deduplicate=faults.idempotency,
        text=parsed.text(),
        now=provider.wall(),
    )
    if decision.lose_response:
        capture.events["lost_responses"] += 1
        capture.fault_kinds["lost_response"] += 1
        event(logger, "injected lost response", message_id=message.id, **fields)
        return DroppedResponse(reset=False)
    capture.statuses[202] += 1
    return Response(status_code=202, headers={**headers, "X-Message-Id": message.id})
