from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from provider.mail import MailSend, parse_mail

TEXT = {"type": "text/plain", "value": "x"}
MailFactory = Callable[..., dict[str, Any]]
HTML = {"type": "text/html", "value": "<p>x</p>"}


def test_a_sendgrid_body_is_read(mail: MailFactory) -> None:
    parsed = parse_mail(json.dumps(mail()).encode())
    assert isinstance(parsed, MailSend)
    assert parsed.personalizations[0].to[0].email == "user1@example.com"
    assert parsed.subject_of_first() == "Your sign-in link"
    assert parsed.custom_args_of_first()["work_id"] == "login:abc"
    assert parsed.text() == "Sign in: http://t/login/verify?token=tok123"


def test_personalizations_override_the_top_level(mail: MailFactory) -> None:
    body = mail(subject=..., custom_args={"kind": "tickets", "color": "blue"})
    body["personalizations"][0]["subject"] = "Your tickets"
    parsed = parse_mail(json.dumps(body).encode())
    assert isinstance(parsed, MailSend)
    assert parsed.subject_of_first() == "Your tickets"
    assert parsed.custom_args_of_first() == {
        "kind": "magic",
        "color": "blue",
        "work_id": "login:abc",
        "request_id": "abc",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"personalizations": ...}, "personalizations"),
        ({"personalizations": []}, "personalizations"),
        ({"personalizations": {"to": []}}, "personalizations"),
        ({"personalizations": [{"to": []}]}, "personalizations.0.to"),
        ({"personalizations": [{"to": [{"name": "x"}]}]}, "personalizations.0.to.0.email"),
        ({"personalizations": [{"to": [{"email": "nobody"}]}]}, "personalizations.0.to.0.email"),
        ({"personalizations": [{"to": [{"email": 42}]}]}, "personalizations.0.to.0.email"),
        ({"from": ...}, "from.email"),
        ({"from": {"email": "a@"}}, "from.email"),
        ({"subject": ...}, "subject"),
        ({"content": []}, "content"),
        ({"content": [{"type": "text/plain"}]}, "content.0.value"),
        ({"content": [{"type": "text/plain", "value": ""}]}, "content.0.value"),
        ({"content": [HTML, TEXT]}, "content"),
        ({"custom_args": {"attempt": 1}}, "custom_args.attempt"),
        ({"headers": ["X-A"]}, "headers"),
    ],
)
def test_bad_bodies_name_the_field(mail: MailFactory, changes: dict[str, Any], field: str) -> None:
    parsed = parse_mail(json.dumps(mail(**changes)).encode())
    assert isinstance(parsed, list)
    assert field in [error.field for error in parsed]


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"\xff\xfe\x00", b"null", b"[]", b'"mail"', b"[" * 5000, b"NaN"]
)
def test_unreadable_or_non_object_bodies_have_no_field(raw: bytes) -> None:
    parsed = parse_mail(raw)
    assert isinstance(parsed, list)
    assert [error.field for error in parsed] == [None]


def test_mangled_bodies_are_refused_not_crashed(mail: MailFactory) -> None:
    rng = random.Random(11)
    junk: list[Any] = [None, 0, -1.5, "", "x", [], {}, [1], {"a": None}, True]
    paths: list[list[str | int]] = [
        [],
        ["personalizations", 0],
        ["personalizations", 0, "to", 0],
        ["from"],
        ["content", 0],
    ]
    for _ in range(500):
        body = mail()
        target: Any = body
        for key in rng.choice(paths):
            target = target[key]
        target[rng.choice(list(target))] = rng.choice(junk)
        assert isinstance(parse_mail(json.dumps(body).encode()), MailSend | list)


def _refusal(body: dict[str, Any]) -> list[dict[str, str | None]]:
    parsed = parse_mail(json.dumps(body).encode())
    assert isinstance(parsed, list), "accepted"
    return [error.as_dict() for error in parsed]


def _to(*emails: str) -> list[dict[str, str]]:
    return [{"email": email} for email in emails]


def test_a_dynamic_template_mail_needs_no_subject_or_content(mail: MailFactory) -> None:
    body = mail(subject=..., content=..., template_id="d-0123456789abcdef")
    body["personalizations"][0]["dynamic_template_data"] = {"link": "http://t/x", "n": [1, 2]}
    assert isinstance(parse_mail(json.dumps(body).encode()), MailSend)


def test_without_a_template_content_is_required_in_sendgrid_words(mail: MailFactory) -> None:
    [error] = _refusal(mail(content=...))
    assert error["field"] == "content"
    assert str(error["message"]).startswith(
        "Unless a valid template_id is provided, the content parameter is required."
    )
    assert str(error["help"]).endswith("errors.html#message.content")


def test_at_most_1000_recipients_across_every_personalization(mail: MailFactory) -> None:
    many = [f"user{i}@example.com" for i in range(1200)]
    split = [{"to": _to(*many[:600])}, {"to": _to(*many[600:])}]
    to_and_bcc = [{"to": _to(*many[:600]), "bcc": _to(*many[600:])}]
    for personalizations in (split, to_and_bcc):
        [error] = _refusal(mail(personalizations=personalizations))
        assert error["message"] == (
            "There is a limit of 1000 total recipients (to + cc + bcc) per request."
        )
    exactly = [
        {"to": _to(*many[:400]), "cc": _to(*many[400:700])},
        {"bcc": [], "to": _to(*many[700:1000])},
    ]
    assert isinstance(parse_mail(json.dumps(mail(personalizations=exactly)).encode()), MailSend)


@pytest.mark.parametrize(
    ("personalization", "where"),
    [
        ({"to": _to("a@example.com"), "cc": _to("a@example.com")}, "personalizations.0.cc"),
        (
            {"to": _to("a@example.com", "b@example.com"), "bcc": _to("B@Example.com")},
            "personalizations.0.bcc",
        ),
        ({"to": _to("a@example.com", "a@example.com")}, "personalizations.0.to"),
    ],
)
def test_an_address_twice_in_one_personalization_is_refused(
    mail: MailFactory, personalization: dict[str, Any], where: str
) -> None:
    [error] = _refusal(mail(personalizations=[personalization]))
    assert error["field"] == "personalizations.0"
    message = str(error["message"])
    assert message.startswith(
        "Each email address in the personalization block should be unique between to, cc, and bcc."
    )
    assert message.endswith(f"in the {where} field.")


def test_the_same_address_in_two_personalizations_is_two_emails(mail: MailFactory) -> None:
    twice = [{"to": _to("a@example.com")}, {"to": _to("a@example.com")}]
    assert isinstance(parse_mail(json.dumps(mail(personalizations=twice)).encode()), MailSend)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"from": ...},
            "from.email",
            "The from object must be provided for every email send.",
        ),
        (
            {"personalizations": []},
            "personalizations",
            "The personalizations field is required and must have at least one personalization.",
        ),
        (
            {"personalizations": [{"to": []}]},
            "personalizations.0.to",
            "The to array is required for all personalization objects, and must have at least"
            " one email object with a valid email address.",
        ),
        (
            {"personalizations": [{"to": _to("nobody")}]},
            "personalizations.0.to.0.email",
            "Does not contain a valid address.",
        ),
        (
            {"content": [{"type": "text/plain", "value": ""}]},
            "content.0.value",
            "The content value must be a string at least one character in length.",
        ),
        (
            {"from": ["a@example.com"]},
            "from",
            "Invalid type. Expected: object, given: array.",
        ),
        (
            {"personalizations": [{"to": [{"email": ["a@example.com"]}]}]},
            "personalizations.0.to.0.email",
            "Invalid type. Expected: string, given: array.",
        ),
        (
            {"personalizations": [{"to": _to("a@example.com")}] * 1001},
            "personalizations",
            "The personalization block is limited to 1000 personalizations per API request."
            " You have provided 1001 personalizations.",
        ),
    ],
)
def test_refusals_use_sendgrids_words(
    mail: MailFactory, changes: dict[str, Any], field: str, message: str
) -> None:
    errors = _refusal(mail(**changes))
    found = next(e for e in errors if e["field"] == field)
    assert str(found["message"]).startswith(message)
    assert str(found["help"]).startswith(
        "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#"
    )
    assert all("Field required" not in str(e["message"]) for e in errors)


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"personalizations": [{"to": [{"email": "\ud800@example.com"}]}]}',
        rb'{"subject": "\udfff"}',
        rb'{"content": [{"type": "text/plain", "value": "a\ud800b"}]}',
        rb'{"custom_args": {"\ud800": "x"}}',
        rb'{"personalizations": [{"to": [{"email": "a\u0000@example.com"}]}]}',
    ],
)
def test_text_that_cannot_be_stored_is_refused(mail: MailFactory, raw: bytes) -> None:
    body = {**mail(), **json.loads(raw)}
    text = json.dumps(body, ensure_ascii=True).encode()
    parsed = parse_mail(text)
    assert isinstance(parsed, list)
    assert all(error.field or error.message for error in parsed)
