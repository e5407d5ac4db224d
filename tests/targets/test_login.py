from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from core import dataset
from core.contracts import WORK_ID_HEADER
from core.db import Store
from core.settings import Settings
from tests.support import drain, messages

REGISTERED = dataset.registered_email(7)
UNKNOWN = dataset.unknown_email(7)


async def deliver_all(variant: str, settings: Settings) -> None:
    if variant == "delegated":
        await drain(settings)


async def test_registered_address_gets_exactly_one_email_and_unknown_none(
    variant: str, target: httpx.Client, provider: httpx.Client, settings: Settings
) -> None:
    known = target.post("/login", json={"email": REGISTERED}, headers={"X-Request-ID": "req-k"})
    unknown = target.post("/login", json={"email": UNKNOWN}, headers={"X-Request-ID": "req-u"})
    assert known.status_code == unknown.status_code == 202
    await deliver_all(variant, settings)

    sent = messages(provider, kind="magic_link")
    assert [(m["to"], m["work_id"], m["attempts"]) for m in sent] == [
        (REGISTERED, known.headers[WORK_ID_HEADER], 1)
    ]
    assert messages(provider, to=UNKNOWN) == []


def test_answer_does_not_reveal_whether_the_address_is_registered(target: httpx.Client) -> None:
    known = target.post("/login", json={"email": REGISTERED})
    unknown = target.post("/login", json={"email": UNKNOWN})
    assert known.status_code == unknown.status_code
    assert known.content == unknown.content

    def comparable(response: httpx.Response) -> dict[str, str]:
        per_request = {"date", "x-request-id", WORK_ID_HEADER.lower()}
        return {k: v for k, v in response.headers.items() if k not in per_request}

    assert comparable(known) == comparable(unknown)
    # Both name a promised work id, fresh each time: it says nothing about the address.
    assert known.headers[WORK_ID_HEADER] != unknown.headers[WORK_ID_HEADER]
    assert WORK_ID_HEADER in unknown.headers


def test_request_id_is_returned_or_generated(target: httpx.Client) -> None:
    given = target.post("/login", json={"email": UNKNOWN}, headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = target.get("/noop", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])


async def test_magic_link_signs_in_once(
    variant: str, target: httpx.Client, provider: httpx.Client, settings: Settings
) -> None:
    login = target.post("/login", json={"email": REGISTERED}, headers={"X-Request-ID": "req-v"})
    await deliver_all(variant, settings)
    (message,) = messages(provider, work_id=login.headers[WORK_ID_HEADER])
    match = re.search(r"token=([A-Za-z0-9_.-]+)", str(message["text"]))
    assert match
    token = match.group(1)

    first = target.get("/login/verify", params={"token": token})
    assert first.status_code == 200
    assert first.json() == {"status": "signed_in", "user_id": 7}
    again = target.get("/login/verify", params={"token": token})
    assert again.status_code == 410
    assert "already used" in again.json()["detail"]


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 400), ({"token": "nope"}, 404), ({"token": "abc.def"}, 404)],
)
def test_bad_verify_tokens_get_a_clear_4xx(
    target: httpx.Client, params: dict[str, str], status: int
) -> None:
    response = target.get("/login/verify", params=params)
    assert response.status_code == status
    assert response.json()["detail"]


def test_expired_link_is_refused(target: httpx.Client, store: Store, settings: Settings) -> None:
    from core import magic_links

    token, selector, verifier_hash = magic_links.new_token()
    store.add_magic_link(selector, verifier_hash, 3, "req-old", expires_at=1.0)
    response = target.get("/login/verify", params={"token": token})
    assert response.status_code == 410
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (b'{"email": ', {"Content-Type": "application/json"}, 400, "malformed JSON"),
        (b"", {"Content-Type": "application/json"}, 400, "empty"),
        (b"{}", {"Content-Type": "application/json"}, 422, "email"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 422, "object"),
        (b'{"email": "no-at-sign"}', {"Content-Type": "application/json"}, 422, "email"),
        (b'{"email": 42}', {"Content-Type": "application/json"}, 422, "email"),
        (
            b'{"email": "' + b"a" * 250 + b'@example.com"}',
            {"Content-Type": "application/json"},
            422,
            "254",
        ),
        (b'{"email": "a@b.co"}', {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b'{"email": "a@b.co"}', {}, 415, "Content-Type"),
        (b'{"pad": "' + b"x" * 70_000 + b'"}', {"Content-Type": "application/json"}, 413, "larger"),
    ],
)
def test_bad_login_input_gets_a_4xx_that_says_what_was_wrong(
    target: httpx.Client, content: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    response = target.post("/login", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]


def test_oversized_chunked_body_is_refused(target: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    response = target.post("/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_links_never_point_at_the_host_the_client_named(
    variant: str, target: httpx.Client, provider: httpx.Client, settings: Settings
) -> None:
    login = target.post("/login", json={"email": REGISTERED}, headers={"Host": "evil.example"})
    await deliver_all(variant, settings)
    (message,) = messages(provider, work_id=login.headers[WORK_ID_HEADER])
    assert "evil.example" not in str(message["text"])
    assert f"{target.base_url}/login/verify?token=" in str(message["text"])
