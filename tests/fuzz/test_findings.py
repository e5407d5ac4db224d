"""Bugs the fuzzer found, each pinned by the input that found it, so they stay fixed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from core import signatures
from core.contracts import VARIANT_NAMES
from fuzzing.harness import PROVIDER_KEY, VALID_MAIL, Stack


def event(order_id: str, event_id: str = "evt_fuzz") -> bytes:
    # Raw text, so that literals Python's json would not write (or would escape) go as they are.
    return (
        f'{{"id": "{event_id}", "type": "checkout.session.completed",'
        f' "data": {{"object": {{"metadata": {{"order_id": {order_id}}}}}}}}}'
    ).encode()


def assert_json_refusal(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("application/json")
    response.json()


@pytest.fixture(params=VARIANT_NAMES)
def target(request: pytest.FixtureRequest, stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.urls[request.param], timeout=10) as client:
        yield client


@pytest.fixture
def control(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.urls["control"], timeout=10) as client:
        yield client
    # A fresh connection: uvicorn closes the one a 500 went out on.
    httpx.post(f"{stack.urls['control']}/control/reset", timeout=10).raise_for_status()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(event("Infinity"), id="order_id-Infinity"),  # int(inf): OverflowError
        pytest.param(event("-Infinity"), id="order_id-minus-Infinity"),
        pytest.param(event(str(2**63)), id="order_id-2**63"),  # SQLite INTEGER overflow
        pytest.param(event(f'"{2**63}"'), id="order_id-string-2**63"),
        pytest.param(event("1", event_id="\\ud800"), id="id-lone-surrogate"),  # sqlite encode
        pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-5000"),  # json.loads RecursionError
    ],
)
def test_signed_webhook_with_a_bad_event_is_refused(
    target: httpx.Client, stack: Stack, body: bytes
) -> None:
    signature = signatures.sign(stack.settings.webhook_secret, body)
    response = target.post(
        "/webhooks/payment",
        content=body,
        headers={"Content-Type": "application/json", signatures.HEADER: signature},
    )
    assert_json_refusal(response)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/control/faults", b'{"hang_probability": NaN}'),
        ("PUT", "/control/faults", b'{"latency": {"ms": -Infinity}}'),
        ("POST", "/control/timeline", b'{"events": [{"at_s": 0, "duration_s": NaN}]}'),
        ("POST", "/control/reset", b'{"seed": Infinity}'),
    ],
)
def test_control_refuses_non_finite_numbers_with_json(
    control: httpx.Client, method: str, path: str, body: bytes
) -> None:
    headers = {"Content-Type": "application/json"}
    assert_json_refusal(control.request(method, path, content=body, headers=headers))


def test_timeline_label_with_a_lone_surrogate_is_refused_or_kept(control: httpx.Client) -> None:
    body = b'{"events": [{"at_s": 0, "duration_s": 1, "label": "\\ud800"}]}'
    response = control.post(
        "/control/timeline", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in {200, 422}, response.text[:200]
    response.json()


@pytest.mark.parametrize("content_type", ["", "text/plain"])
@pytest.mark.parametrize(
    ("method", "path"), [("PUT", "/control/faults"), ("POST", "/control/reset")]
)
def test_control_refuses_a_body_that_is_not_utf8_with_json(
    control: httpx.Client, method: str, path: str, content_type: str
) -> None:
    headers = {"Content-Type": content_type}
    assert_json_refusal(control.request(method, path, content=b"\xff", headers=headers))


def test_mail_send_under_a_tiny_rate_limit_does_not_crash(
    stack: Stack, control: httpx.Client
) -> None:
    # 5e-324 once overflowed the X-RateLimit-Reset arithmetic; now it is out of range.
    assert_json_refusal(control.put("/control/faults", json={"rate_limit": {"per_s": 5e-324}}))
    control.put("/control/faults", json={"rate_limit": {"per_s": 0.001}}).raise_for_status()
    response = control.post(
        "/v3/mail/send",
        content=json.dumps(VALID_MAIL).encode(),
        headers={"Authorization": f"Bearer {PROVIDER_KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code in {202, 429}, response.text[:200]
