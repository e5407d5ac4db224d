"""Mails built by the official `sendgrid` library, sent to the fake as to SendGrid itself."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from python_http_client.exceptions import BadRequestsError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Bcc, Cc, Mail, Personalization, To

from tests.provider.conftest import API_KEY

SENDER = "login@delegate-bench.test"


@pytest.fixture
def sendgrid(base_url: str, client: httpx.Client) -> SendGridAPIClient:
    # `host` points the library at the local fake: nothing leaves 127.0.0.1.
    return SendGridAPIClient(API_KEY, host=base_url)


def refusal(sendgrid: SendGridAPIClient, mail: Mail) -> list[dict[str, Any]]:
    with pytest.raises(BadRequestsError) as refused:
        sendgrid.send(mail)
    assert refused.value.status_code == 400
    errors: list[dict[str, Any]] = json.loads(refused.value.body)["errors"]
    return errors


def test_a_plain_mail_is_accepted_and_captured(
    sendgrid: SendGridAPIClient, client: httpx.Client
) -> None:
    mail = Mail(SENDER, "user1@example.com", "Your sign-in link", "Sign in: http://t/x")
    response = sendgrid.send(mail)
    assert response.status_code == 202
    [message] = client.get("/control/messages").json()["messages"]
    assert message["id"] == response.headers["X-Message-Id"]
    assert (message["to"], message["subject"]) == ("user1@example.com", "Your sign-in link")
    assert message["text"] == "Sign in: http://t/x"


def test_one_mail_to_several_personalizations_is_accepted(sendgrid: SendGridAPIClient) -> None:
    to = [To(f"user{i}@example.com") for i in range(3)]
    mail = Mail(SENDER, to, "Tickets", html_content="<p>x</p>", is_multiple=True)
    assert len(mail.get()["personalizations"]) == 3
    assert sendgrid.send(mail).status_code == 202


def test_a_dynamic_template_mail_is_accepted(sendgrid: SendGridAPIClient) -> None:
    mail = Mail(SENDER, "user1@example.com")
    mail.template_id = "d-0123456789abcdef0123456789abcdef"
    mail.dynamic_template_data = {"link": "http://t/login/verify?token=x", "seats": [1, 2]}
    assert "content" not in mail.get() and "subject" not in mail.get()
    assert sendgrid.send(mail).status_code == 202


def test_the_same_address_in_to_and_cc_is_refused(sendgrid: SendGridAPIClient) -> None:
    mail = Mail(SENDER, subject="Hi", plain_text_content="x")
    personalization = Personalization()
    personalization.add_to(To("user1@example.com"))
    personalization.add_cc(Cc("USER1@example.com"))
    mail.add_personalization(personalization)
    [error] = refusal(sendgrid, mail)
    assert error["field"] == "personalizations.0"
    assert "personalizations.0.cc" in error["message"]


def test_1200_recipients_as_600_to_and_600_bcc_are_refused(sendgrid: SendGridAPIClient) -> None:
    mail = Mail(SENDER, subject="Hi", plain_text_content="x")
    personalization = Personalization()
    for i in range(600):
        personalization.add_to(To(f"to{i}@example.com"))
        personalization.add_bcc(Bcc(f"bcc{i}@example.com"))
    mail.add_personalization(personalization)
    [error] = refusal(sendgrid, mail)
    assert (
        error["message"] == "There is a limit of 1000 total recipients (to + cc + bcc) per request."
    )


def test_a_mail_without_content_or_template_is_refused(sendgrid: SendGridAPIClient) -> None:
    [error] = refusal(sendgrid, Mail(SENDER, "user1@example.com", "Hi"))
    assert error["field"] == "content"
