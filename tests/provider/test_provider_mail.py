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
        ({"from": ...}, "from"),
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
