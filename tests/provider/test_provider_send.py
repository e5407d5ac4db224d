from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from provider.app import create_app
from provider.send import MAX_BODY_BYTES
from tests.provider.conftest import API_KEY, AUTH, make_settings

MailFactory = Callable[..., dict[str, Any]]
StartProvider = Callable[..., str]
SEND = "/v3/mail/send"


def send(client: httpx.Client, body: Any, auth: dict[str, str], **headers: str) -> httpx.Response:
    return client.post(SEND, json=body, headers={**auth, **headers})


def messages(client: httpx.Client, **filters: str | float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get("/control/messages", params=filters).json()["messages"]
    return found


def counters(client: httpx.Client) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/control/counters").json()
    return found


def set_faults(client: httpx.Client, **faults: Any) -> None:
    client.put("/control/faults", json=faults).raise_for_status()


def test_an_accepted_mail_is_captured(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    before = time.time()
    response = send(client, mail(), auth, **{"X-Request-ID": "req-1", "Idempotency-Key": "magic:1"})

    assert response.status_code == 202
    assert response.content == b""
    assert len(response.headers["X-Message-Id"]) == 22
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert int(response.headers[name]) > 0
    [message] = messages(client)
    assert message == {
        "id": response.headers["X-Message-Id"],
        "to": "user1@example.com",
        "subject": "Your sign-in link",
        "kind": "magic",
        "work_id": "login:abc",
        "request_id": "req-1",
        "idempotency_key": "magic:1",
        "attempts": 1,
        "first_at": message["first_at"],
        "last_at": message["first_at"],
        "text": "Sign in: http://t/login/verify?token=tok123",
    }
    assert before <= message["first_at"] <= time.time()


def test_request_id_falls_back_to_custom_args(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    assert send(client, mail(), auth).status_code == 202
    assert messages(client)[0]["request_id"] == "abc"


@pytest.mark.parametrize("key", [None, "Bearer wrong", "SG.test-key", "Basic SG.test-key"])
def test_a_wrong_api_key_is_refused(
    client: httpx.Client, mail: MailFactory, key: str | None
) -> None:
    response = send(client, mail(), {"Authorization": key} if key else {})
    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert error["field"] is None and error["help"] is None and error["message"]
    assert "X-RateLimit-Remaining" in response.headers
    assert messages(client) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"personalizations": []}, "personalizations"),
        ({"personalizations": [{"to": [{"email": "nobody"}]}]}, "personalizations.0.to.0.email"),
        ({"from": ...}, "from.email"),
        ({"subject": ...}, "subject"),
        ({"content": []}, "content"),
    ],
)
def test_a_bad_body_is_a_sendgrid_400(
    client: httpx.Client,
    mail: MailFactory,
    auth: dict[str, str],
    changes: dict[str, Any],
    field: str,
) -> None:
    response = send(client, mail(**changes), auth)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["errors"]
    assert field in [error["field"] for error in errors]
    assert all(set(error) == {"field", "message", "help"} for error in errors)
    assert "X-RateLimit-Limit" in response.headers


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b"\xff\xfe"])
def test_malformed_json_is_a_400(client: httpx.Client, auth: dict[str, str], raw: bytes) -> None:
    headers = {**auth, "Content-Type": "application/json"}
    response = client.post(SEND, content=raw, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] is None


def test_a_non_json_content_type_is_a_415(client: httpx.Client, auth: dict[str, str]) -> None:
    response = client.post(
        SEND, content=b"to=a@b.c", headers={**auth, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["message"]


def test_a_repeated_idempotency_key_is_counted_not_stored_twice(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    first = send(client, mail(), auth, **{"Idempotency-Key": "magic:r1"})
    second = send(client, mail(), auth, **{"Idempotency-Key": "magic:r1"})

    assert first.status_code == second.status_code == 202
    assert first.headers["X-Message-Id"] == second.headers["X-Message-Id"]
    [message] = messages(client)
    assert message["attempts"] == 2
    assert message["last_at"] > message["first_at"]
    found = counters(client)
    assert [found[name] for name in ("requests", "accepted", "duplicates", "messages")] == [
        2,
        1,
        1,
        1,
    ]
    assert found["by_status"] == {"202": 2}


def test_without_a_key_every_request_is_distinct(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    ids = {send(client, mail(), auth).headers["X-Message-Id"] for _ in range(3)}
    assert len(ids) == 3
    assert len(messages(client)) == 3


def test_an_injected_503_carries_retry_after_and_is_not_recorded(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    set_faults(client, errors=[{"status": 503, "probability": 1.0, "retry_after_s": 2.5}])
    response = send(client, mail(), auth)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert response.json()["errors"][0]["message"] == "service unavailable"
    assert messages(client) == []
    assert counters(client)["by_fault"] == {"error_503": 1}


def test_an_injected_429_always_says_when_to_retry(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    set_faults(client, errors=[{"status": 429, "probability": 1.0}])
    response = send(client, mail(), auth)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_the_token_bucket_limits_the_rate(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    set_faults(client, rate_limit={"per_s": 0.5, "burst": 2})
    answers = [send(client, mail(), auth) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"2"}
    assert answers[2].headers["Retry-After"] == "2"
    assert int(answers[2].headers["X-RateLimit-Reset"]) >= time.time() + 3
    assert len(messages(client)) == 2
    assert counters(client)["rate_limited"] == 1


def test_a_hang_lasts_until_the_client_gives_up(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    set_faults(client, hang_probability=1.0)
    with pytest.raises(httpx.ReadTimeout):
        client.post(SEND, json=mail(), headers=auth, timeout=httpx.Timeout(2.0, read=0.3))
    assert messages(client) == []
    assert counters(client)["hung"] == 1


def test_a_hang_is_bounded(client: httpx.Client, mail: MailFactory, auth: dict[str, str]) -> None:
    set_faults(client, hang_probability=1.0, hang_max_s=0.2)
    started = time.monotonic()
    response = send(client, mail(), auth)
    assert response.status_code == 504
    assert 0.2 <= time.monotonic() - started < 1.5
    assert messages(client) == []


def test_latency_delays_the_answer(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    set_faults(client, latency={"kind": "fixed", "ms": 200})
    started = time.monotonic()
    assert send(client, mail(), auth).status_code == 202
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(("http", "loop"), [("httptools", "uvloop"), ("h11", "asyncio")])
def test_a_reset_drops_the_connection_and_records_nothing(
    start_provider: StartProvider, mail: MailFactory, auth: dict[str, str], http: str, loop: str
) -> None:
    with httpx.Client(base_url=start_provider(http=http, loop=loop), timeout=2.0) as client:
        set_faults(client, reset_probability=1.0)
        with pytest.raises(httpx.ReadError):  # ECONNRESET: a real RST
            send(client, mail(), auth)
        assert messages(client) == []
        assert counters(client)["reset"] == 1


@pytest.mark.parametrize(("http", "loop"), [("httptools", "uvloop"), ("h11", "asyncio")])
def test_a_lost_response_records_the_message_then_a_retry_is_a_duplicate(
    start_provider: StartProvider, mail: MailFactory, auth: dict[str, str], http: str, loop: str
) -> None:
    with httpx.Client(base_url=start_provider(http=http, loop=loop), timeout=2.0) as client:
        set_faults(client, lost_response_probability=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            send(client, mail(), auth, **{"Idempotency-Key": "magic:lost"})
        [message] = messages(client)
        assert message["attempts"] == 1

        set_faults(client)
        retry = send(client, mail(), auth, **{"Idempotency-Key": "magic:lost"})
        assert retry.status_code == 202
        assert retry.headers["X-Message-Id"] == message["id"]
        assert messages(client)[0]["attempts"] == 2
        assert counters(client)["lost_responses"] == 1


def test_no_input_gets_a_500(client: httpx.Client, auth: dict[str, str]) -> None:
    bodies = [b"{}", b'{"personalizations": null}', b'{"from": []}', b"1e999", b"[" * 100_000]
    bodies += [b'{"personalizations": [{"to": [[]]}], "content": [null]}', b"\x00" * 100]
    for body in bodies:
        response = client.post(
            SEND, content=body, headers={**auth, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, body[:40]


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"to": [{"email": "\ud800@example.com"}]}',
        rb'{"to": [{"email": "a@example.com"}], "subject": "\udfff"}',
        rb'{"to": [{"email": "a@example.com"}], "custom_args": {"work_id": "\ud800"}}',
    ],
)
def test_no_accepted_mail_breaks_the_capture_api(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str], raw: bytes
) -> None:
    # Once a lone surrogate was accepted (202) and every GET /control/messages answered 500.
    body = mail(personalizations=[json.loads(raw)])
    content = json.dumps(body).encode()
    response = client.post(
        SEND, content=content, headers={**auth, "Content-Type": "application/json"}
    )
    listed = client.get("/control/messages")
    assert listed.status_code == 200
    if response.status_code == 202:
        [message] = listed.json()["messages"]
        assert message["id"] == response.headers["X-Message-Id"]
    else:
        assert response.status_code == 400
        assert listed.json()["messages"] == []


def test_a_body_declared_above_the_limit_is_a_413_before_it_is_sent(base_url: str) -> None:
    url = httpx.URL(base_url)
    head = (
        f"POST {SEND} HTTP/1.1\r\nHost: {url.host}\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=5) as sock:
        sock.sendall(head.encode())
        # Not one byte of the body is sent: the answer comes from the headers alone.
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413 ")
    assert "too large" in answer


async def test_a_streamed_body_is_cut_at_the_limit() -> None:
    sent = 0
    chunk = b" " * (1024 * 1024)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(2 * MAX_BODY_BYTES // len(chunk)):
            sent += len(chunk)
            yield chunk

    app = create_app(make_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://provider") as client:
        response = await client.post(
            SEND, content=stream(), headers={**AUTH, "Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["errors"][0]["message"] == (
        "The JSON payload you have included in your request is too large."
    )
    assert sent <= MAX_BODY_BYTES + len(chunk)


def test_a_body_just_under_the_limit_is_read(client: httpx.Client, auth: dict[str, str]) -> None:
    padding = b" " * (MAX_BODY_BYTES - 10)
    response = client.post(
        SEND, content=b"{}" + padding, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400  # read in full, and refused for what it says


def test_idempotency_is_on_by_default(client: httpx.Client) -> None:
    assert client.get("/control/faults").json()["base"]["idempotency"] is True


def test_without_idempotency_a_retried_key_is_a_second_email(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    set_faults(client, idempotency=False)
    first = send(client, mail(), auth, **{"Idempotency-Key": "magic:r1"})
    second = send(client, mail(), auth, **{"Idempotency-Key": "magic:r1"})

    assert first.status_code == second.status_code == 202
    assert first.headers["X-Message-Id"] != second.headers["X-Message-Id"]
    found = messages(client, work_id="login:abc")
    assert [(m["idempotency_key"], m["attempts"]) for m in found] == [("magic:r1", 1)] * 2
    assert [counters(client)[name] for name in ("accepted", "duplicates", "resent")] == [2, 0, 1]


def test_a_timeline_window_can_turn_idempotency_off(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    window = {"at_s": 0, "duration_s": 60, "faults": {"idempotency": False}}
    client.post("/control/timeline", json={"events": [window]}).raise_for_status()
    for _ in range(2):
        send(client, mail(), auth, **{"Idempotency-Key": "magic:w"}).raise_for_status()
    assert len(messages(client)) == 2
    assert client.get("/control/faults").json()["active"]["idempotency"] is False


@pytest.mark.parametrize(("http", "loop"), [("httptools", "uvloop"), ("h11", "asyncio")])
def test_without_idempotency_a_lost_response_and_its_retry_are_two_emails(
    start_provider: StartProvider, mail: MailFactory, auth: dict[str, str], http: str, loop: str
) -> None:
    with httpx.Client(base_url=start_provider(http=http, loop=loop), timeout=2.0) as client:
        set_faults(client, lost_response_probability=1.0, idempotency=False)
        with pytest.raises(httpx.RemoteProtocolError):
            send(client, mail(), auth, **{"Idempotency-Key": "magic:lost"})
        set_faults(client, idempotency=False)
        assert send(client, mail(), auth, **{"Idempotency-Key": "magic:lost"}).status_code == 202
        assert [m["work_id"] for m in messages(client)] == ["login:abc", "login:abc"]
