"""Stripe's webhook signature scheme: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256>`."""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Stripe-Signature"


class SignatureError(ValueError):
    """The signature header is missing, malformed, wrong or outside the tolerance."""


def compute(secret: str, timestamp: int, payload: bytes) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """The header value a payment processor would send with `payload`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={compute(secret, t, payload)}"


def verify(
    header: str | None,
    payload: bytes,
    secret: str,
    tolerance_s: int = 300,
    now: float | None = None,
) -> int:
    """Check the raw body against the header; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header")
        if key == "t":
            if not value.isdigit():
                raise SignatureError(f"malformed timestamp in {HEADER} header")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"{HEADER} header needs t= and at least one v1=")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("signature timestamp is outside the tolerance window")
    expected = compute(secret, timestamp, payload)
    # Compare against every v1 value (Stripe sends several while a secret is rolled).
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no v1 signature matches the payload")
    return timestamp
