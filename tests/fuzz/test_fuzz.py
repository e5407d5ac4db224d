"""The short fuzz run of `make test`: a few hundred seeded cases over every route."""

from __future__ import annotations

import json

import pytest

from core.contracts import VARIANT_NAMES
from fuzzing.harness import Answer, Stack
from fuzzing.plans import PLANS, capture_problem, run_plan
from fuzzing.strategies import RawRequest

# Per plan; schema plans give each operation a share of it. Seeded, so every run is the same.
EXAMPLES = 40
SEED = 0


@pytest.mark.parametrize("plan", PLANS)
def test_no_server_errors_and_every_refusal_is_json(plan: str, stack: Stack) -> None:
    tallies = run_plan(plan, stack, EXAMPLES, SEED)
    assert sum(tally.cases for tally in tallies) > 0
    problems = [
        f"{tally.route}: {found}\n    e.g. {example}"
        for tally in tallies
        for found, example in tally.findings.items()
    ]
    assert not problems, "\n".join(problems)


def test_every_variant_is_fuzzed(stack: Stack) -> None:
    fuzzed = {plan.partition(":")[0] for plan in PLANS}
    assert set(VARIANT_NAMES) <= fuzzed
    assert set(VARIANT_NAMES) <= set(stack.urls)  # each one's own target, serving


MAIL = RawRequest(
    "POST", "/v3/mail/send", content=b'{"personalizations": [{"to": [{"email": "a@x.io"}]}]}'
)


def listing(*messages: dict[str, str], status: int = 200) -> Answer:
    return Answer(status, "application/json", json.dumps({"messages": list(messages)}).encode())


def test_the_mail_plan_checks_the_capture_after_each_send() -> None:
    accepted = Answer(202, "", b"", {"x-message-id": "m1"})
    refused = Answer(400, "application/json", b"{}")
    assert capture_problem(MAIL, accepted, listing({"id": "m1", "to": "a@x.io"})) is None
    assert capture_problem(MAIL, refused, listing()) is None
    broken = Answer(500, "text/plain", b"Internal Server Error")
    assert "answered 500" in str(capture_problem(MAIL, accepted, broken))
    assert "lists 0 messages" in str(capture_problem(MAIL, accepted, listing()))
    assert "lists 1 messages" in str(capture_problem(MAIL, refused, listing({"id": "m1"})))
    other = listing({"id": "m1", "to": "b@x.io"})
    assert "another address" in str(capture_problem(MAIL, accepted, other))
