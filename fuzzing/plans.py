"""What is fuzzed: each plan is one app's routes fed by one family of inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import strategies as st

from core.contracts import VARIANTS
from fuzzing import strategies
from fuzzing.harness import (
    PROVIDER_KEY,
    TIMEOUT_S,
    VALID_MAIL,
    Answer,
    Stack,
    Tally,
    explore,
    record,
    schema_requests,
    send,
)
from fuzzing.known import KNOWN_BUGS
from fuzzing.strategies import RawRequest

# Schema operations are many and mostly simple; the raw plans get the larger share.
SCHEMA_SHARE = 0.4
# Every variant's target gets the same three plans: a new variant is fuzzed as it is added.
TARGET_PLANS = ("schema", "login", "webhook")
PLANS = (
    *(f"{v.name}:{kind}" for v in VARIANTS for kind in TARGET_PLANS),
    "provider:schema",
    "provider:control",
    "provider:mail",
    "provider:mail-under-faults",
)
# Plans that fuzz the control API get a provider of their own, so their faults reach nobody.
FUZZED_CONTROL = {("provider", "schema"), ("provider", "control")}


def _probe(
    client: httpx.Client, tally: Tally, allowed_5xx: frozenset[int] = frozenset()
) -> Callable[[RawRequest], None]:
    def probe(request: RawRequest) -> None:
        outcome = send(client, request)
        if outcome is not None:
            record(tally, request, outcome, KNOWN_BUGS, allowed_5xx)

    return probe


def _schema(client: httpx.Client, app: str, examples: int, at: int) -> list[Tally]:
    tallies = []
    operations = schema_requests(client.get("/openapi.json").raise_for_status().json())
    for label, requests in operations.items():
        tally = Tally(f"{app} {label}")
        explore(requests, _probe(client, tally), max(1, int(examples * SCHEMA_SHARE)), at)
        tallies.append(tally)
    return tallies


def _raw(
    client: httpx.Client,
    route: str,
    requests: st.SearchStrategy[RawRequest],
    examples: int,
    at: int,
) -> list[Tally]:
    tally = Tally(route)
    explore(requests, _probe(client, tally), examples, at)
    return [tally]


def capture_problem(request: RawRequest, sent: Answer, listed: Answer | str | None) -> str | None:
    """What the capture got wrong after `sent`, on a provider reset just before it, or None."""
    if not isinstance(listed, Answer) or listed.status != 200:
        answer = listed.status if isinstance(listed, Answer) else listed
        return f"GET /control/messages answered {answer} after a send that got {sent.status}"
    try:
        messages = json.loads(listed.body)["messages"]
    except (ValueError, KeyError, TypeError):
        return "GET /control/messages answered 200 without a JSON list of messages"
    accepted = sent.status == 202
    if [m.get("id") for m in messages] != ([sent.headers.get("x-message-id")] if accepted else []):
        return f"after a {sent.status} the capture lists {len(messages)} messages"
    if accepted and request.content is not None:
        # Accepted, so it parses; the provider lists the first personalization's first address.
        to = json.loads(request.content)["personalizations"][0]["to"][0]["email"]
        if messages[0].get("to") != to:
            return "the capture lists another address than the one sent"
    return None


def _mail(client: httpx.Client, examples: int, at: int) -> list[Tally]:
    """Each mail on a provider just reset, then its capture read back: sent is as listed."""
    tally = Tally("provider POST /v3/mail/send (raw)")
    reset, listing = RawRequest("POST", "/control/reset"), RawRequest("GET", "/control/messages")

    def probe(request: RawRequest) -> None:
        send(client, reset)
        outcome = send(client, request)
        if outcome is None:
            return
        record(tally, request, outcome, KNOWN_BUGS)
        if isinstance(outcome, Answer):
            found = capture_problem(request, outcome, send(client, listing))
            if found is not None:
                tally.findings.setdefault(found, request.describe())

    explore(strategies.mail_requests(PROVIDER_KEY), probe, examples, at)
    return [tally]


def _under_faults(client: httpx.Client, examples: int, at: int) -> list[Tally]:
    """Random fault models a scenario could set, then two sends: only injected 5xx allowed."""
    tally = Tally("provider POST /v3/mail/send (random faults)")
    mail = RawRequest(
        "POST",
        "/v3/mail/send",
        {"Authorization": f"Bearer {PROVIDER_KEY}", "Content-Type": "application/json"},
        content=json.dumps(VALID_MAIL).encode(),
    )
    # Faults that stall or drop a connection are what the provider is for; they are left out.
    quiet = {"hang_probability": 0, "reset_probability": 0, "lost_response_probability": 0}

    def probe(faults: dict[str, Any]) -> None:
        model = {**faults, **quiet, "latency": {"kind": "none"}}
        put = RawRequest("PUT", "/control/faults", mail.headers, content=json.dumps(model).encode())
        answer = send(client, put)
        if isinstance(answer, Answer) and answer.status == 200:
            errors = model.get("errors", [])
            allowed = frozenset(e["status"] for e in errors if isinstance(e.get("status"), int))
            for _ in range(2):
                outcome = send(client, mail)
                if outcome is not None:
                    record(tally, mail.with_note(json.dumps(model)), outcome, KNOWN_BUGS, allowed)
        send(client, RawRequest("POST", "/control/reset"))

    explore(strategies.fault_models(), probe, examples, at)
    return [tally]


def run_plan(name: str, stack: Stack, examples: int, at: int) -> list[Tally]:
    app, _, kind = name.partition(":")
    url = stack.urls["control" if (app, kind) in FUZZED_CONTROL else app]
    secret = stack.settings.webhook_secret
    with httpx.Client(base_url=url, timeout=TIMEOUT_S) as client:
        if kind == "schema":
            return _schema(client, app, examples, at)
        if kind == "login":
            return _raw(
                client, f"{app} POST /login (raw)", strategies.login_requests(), examples, at
            )
        if kind == "webhook":
            route = f"{app} POST /webhooks/payment (raw)"
            return _raw(client, route, strategies.webhook_requests(secret), examples, at)
        if kind == "control":
            return _raw(
                client, "provider /control (raw)", strategies.control_requests(), examples, at
            )
        if kind == "mail":
            return _mail(client, examples, at)
        if kind == "mail-under-faults":
            return _under_faults(client, examples, at)
    raise ValueError(f"unknown plan {name!r}; choose from {', '.join(PLANS)}")
