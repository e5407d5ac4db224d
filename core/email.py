"""The email client: SendGrid's v3 request, an Idempotency-Key per piece of work, and outcomes."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx

from core.settings import Settings

RETRYABLE_STATUSES = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str
    kind: str
    work_id: str
    request_id: str
    idempotency_key: str


class Outcome(Enum):
    ACCEPTED = "accepted"
    RETRY = "retry"  # the provider may take it later: 5xx, 429, timeouts, connection errors
    PERMANENT = "permanent"  # retrying cannot help: the request itself was refused


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    status: int  # 0 when no response arrived
    detail: str
    retry_after_s: float | None = None


def payload(message: Email, mail_from: str) -> dict[str, Any]:
    """The JSON body SendGrid's own client sends for one message."""
    return {
        "personalizations": [{"to": [{"email": message.to}]}],
        "from": {"email": mail_from},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "custom_args": {
            "kind": message.kind,
            "work_id": message.work_id,
            "request_id": message.request_id,
        },
    }


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_response(response: httpx.Response) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(Outcome.ACCEPTED, status, "accepted")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    detail = f"provider answered {status}"
    if status in RETRYABLE_STATUSES:
        return SendResult(Outcome.RETRY, status, detail, retry_after)
    return SendResult(Outcome.PERMANENT, status, f"{detail}: {response.text[:200]}")


def classify_error(exc: httpx.HTTPError) -> SendResult:
    if isinstance(exc, httpx.TimeoutException):
        return SendResult(Outcome.RETRY, 0, f"timeout ({type(exc).__name__})")
    return SendResult(Outcome.RETRY, 0, f"connection error ({type(exc).__name__})")


def backoff_s(
    attempt: int, base_s: float, cap_s: float, rng: random.Random, retry_after_s: float | None
) -> float:
    """Capped exponential backoff with full jitter, never sooner than the provider asked."""
    ceiling = min(cap_s, base_s * math.pow(2, attempt - 1))
    delay = rng.uniform(0, ceiling)
    return max(delay, retry_after_s or 0.0)


def _request_args(message: Email, settings: Settings) -> dict[str, Any]:
    return {
        "url": settings.provider_url.rstrip("/") + "/v3/mail/send",
        "json": payload(message, settings.mail_from),
        "headers": {
            "Authorization": f"Bearer {settings.provider_api_key}",
            "Idempotency-Key": message.idempotency_key,
            "X-Request-ID": message.request_id,
        },
    }


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(
        settings.provider_read_timeout_s, connect=settings.provider_connect_timeout_s
    )


class EmailClient:
    """Blocking client, for the sync variant's thread pool."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.Client(timeout=_timeout(settings))

    def send(self, message: Email) -> SendResult:
        try:
            response = self.http.post(**_request_args(message, self.settings))
            return classify_response(response)
        except httpx.HTTPError as exc:
            return classify_error(exc)

    def close(self) -> None:
        self.http.close()


class AsyncEmailClient:
    """Non-blocking client, for the workers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=_timeout(settings))

    async def send(self, message: Email) -> SendResult:
        try:
            response = await self.http.post(**_request_args(message, self.settings))
            return classify_response(response)
        except httpx.HTTPError as exc:
            return classify_error(exc)

    async def aclose(self) -> None:
        await self.http.aclose()
