from __future__ import annotations

import hashlib
import hmac

import pytest

from core import signatures

SECRET = "whsec_test"
BODY = b'{"id": "evt_1"}'


def test_signature_matches_stripes_documented_scheme() -> None:
    header = signatures.sign(SECRET, BODY, timestamp=1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert signatures.verify(header, BODY, SECRET, now=1_700_000_100) == 1_700_000_000


@pytest.mark.parametrize(
    ("header", "body", "now", "says"),
    [
        (None, BODY, 1_700_000_000, "missing"),
        ("t=1700000000", BODY, 1_700_000_000, "at least one v1"),
        ("t=abc,v1=00", BODY, 1_700_000_000, "malformed timestamp"),
        ("nonsense", BODY, 1_700_000_000, "malformed"),
        ("SIGNED", b'{"id": "evt_2"}', 1_700_000_000, "no v1 signature matches"),
        ("SIGNED", BODY, 1_700_000_301, "tolerance"),
        ("SIGNED", BODY, 1_699_999_699, "tolerance"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, body: bytes, now: int, says: str) -> None:
    if header == "SIGNED":
        header = signatures.sign(SECRET, BODY, timestamp=1_700_000_000)
    with pytest.raises(signatures.SignatureError, match=says):
        signatures.verify(header, body, SECRET, tolerance_s=300, now=now)
