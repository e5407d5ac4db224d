from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

MailFactory = Callable[..., dict[str, Any]]
StartProvider = Callable[..., str]
SEND = "/v3/mail/send"
OUTAGE = {"errors": [{"status": 503, "probability": 1.0}]}


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_put_faults_fills_in_defaults(client: httpx.Client) -> None:
    response = client.put("/control/faults", json={"hang_probability": 0.25})
    assert response.status_code == 200
    base = client.get("/control/faults").json()["base"]
    assert base["hang_probability"] == 0.25
    assert base["latency"]["kind"] == "none"
    assert base["errors"] == [] and base["rate_limit"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"hang_probability": 2},
        {"errors": [{"status": 503}]},
        {"latency": {"kind": "slow"}},
        {"unknown": 1},
        [],
    ],
)
def test_a_bad_fault_model_is_a_422(client: httpx.Client, body: Any) -> None:
    response = client.put("/control/faults", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert client.get("/control/faults").json()["base"]["hang_probability"] == 0


def test_malformed_control_json_is_a_422(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    assert client.put("/control/faults", content=b"{", headers=headers).status_code == 422
    assert client.post("/control/timeline", content=b"[", headers=headers).status_code == 422


def test_a_timeline_window_turns_an_outage_on_and_off(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    event = {"at_s": 0.3, "duration_s": 0.4, "faults": OUTAGE, "label": "outage"}
    started = time.monotonic()
    state = client.post("/control/timeline", json={"events": [event]}).json()
    [window] = state["timeline"]["events"]
    assert window["end_at"] - window["start_at"] == pytest.approx(0.4)
    assert window["label"] == "outage"

    def status_at(offset_s: float) -> int:
        time.sleep(max(0.0, started + offset_s - time.monotonic()))
        return client.post(SEND, json=mail(), headers=auth).status_code

    assert status_at(0.0) == 202
    assert status_at(0.5) == 503
    assert client.get("/control/faults").json()["active_label"] == "outage"
    assert status_at(0.9) == 202
    assert client.get("/control/faults").json()["active_label"] is None


def test_reset_clears_everything(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    client.post(SEND, json=mail(), headers=auth)
    client.put("/control/faults", json=OUTAGE)
    client.post("/control/timeline", json={"events": [{"at_s": 0, "duration_s": 60}]})

    assert client.post("/control/reset", json={"seed": 9}).json() == {"status": "reset", "seed": 9}
    state = client.get("/control/faults").json()
    assert state["base"]["errors"] == [] and state["timeline"]["events"] == []
    assert client.get("/control/messages").json() == {"messages": []}
    counters = client.get("/control/counters").json()
    assert counters["requests"] == 0 and counters["by_status"] == {}


def test_reset_reseeds_the_fault_draws(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    half = {"errors": [{"status": 503, "probability": 0.5}]}

    def statuses_after_reset(seed: int) -> list[int]:
        client.post("/control/reset", json={"seed": seed})
        client.put("/control/faults", json=half)
        return [client.post(SEND, json=mail(), headers=auth).status_code for _ in range(20)]

    first = statuses_after_reset(4)
    assert statuses_after_reset(4) == first
    assert set(first) == {202, 503}
    assert statuses_after_reset(5) != first


def test_messages_can_be_filtered(
    client: httpx.Client, mail: MailFactory, auth: dict[str, str]
) -> None:
    tickets = mail(custom_args={"kind": "tickets", "work_id": "order:7"})
    tickets["personalizations"][0] = {"to": [{"email": "user2@example.com"}]}
    client.post(SEND, json=mail(), headers=auth)
    middle = time.time()
    client.post(SEND, json=tickets, headers=auth)

    def ids(**filters: str | float) -> list[str | None]:
        found = client.get("/control/messages", params=filters).json()["messages"]
        return [message["work_id"] for message in found]

    assert ids() == ["login:abc", "order:7"]
    assert ids(to="user2@example.com") == ["order:7"]
    assert ids(kind="magic") == ["login:abc"]
    assert ids(work_id="order:7") == ["order:7"]
    assert ids(since=middle) == ["order:7"]
    assert ids(kind="magic", to="user2@example.com") == []


def test_a_control_token_guards_the_control_api_only(
    start_provider: StartProvider, mail: MailFactory, auth: dict[str, str]
) -> None:
    url = start_provider(provider_control_token="ctl-secret")
    with httpx.Client(base_url=url, timeout=2.0) as client:
        assert client.get("/control/counters").status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert client.put("/control/faults", json=OUTAGE, headers=wrong).status_code == 401
        assert client.post("/control/reset", headers=wrong).status_code == 401

        right = {"Authorization": "Bearer ctl-secret"}
        assert client.get("/control/counters", headers=right).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.post(SEND, json=mail(), headers=auth).status_code == 202
