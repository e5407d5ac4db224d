"""The body of SendGrid's v3 mail send, checked by SendGrid's rules and refused in its words."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from provider import refusals
from provider.refusals import ApiError

_ADDRESS_PART = r"[^@\s<>()\[\],;:\"\x00-\x1f\x7f]+"
_ADDRESS = re.compile(rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$")
# SendGrid's documented limits of one request.
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000


class _Model(BaseModel):
    # SendGrid has many optional fields this fake does not model; they are accepted and ignored.
    # Strict: SendGrid's JSON schema refuses "12" for a number and 1 for a string.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Address(_Model):
    email: str
    name: str | None = None

    @field_validator("email")
    @classmethod
    def _plausible(cls, email: str) -> str:
        if not _ADDRESS.match(email):
            raise PydanticCustomError("email", refusals.INVALID_ADDRESS)
        return email


class Personalization(_Model):
    to: list[Address] = Field(min_length=1)
    cc: list[Address] | None = None
    bcc: list[Address] | None = None
    subject: str | None = Field(default=None, min_length=1)
    headers: dict[str, str] | None = None
    custom_args: dict[str, str] | None = None
    substitutions: dict[str, Any] | None = None
    dynamic_template_data: dict[str, Any] | None = None
    send_at: int | None = None

    def recipients(self) -> dict[str, list[Address]]:
        return {"to": self.to, "cc": self.cc or [], "bcc": self.bcc or []}


class Content(_Model):
    type: str = Field(min_length=1)
    value: str = Field(min_length=1)


class MailSend(_Model):
    personalizations: list[Personalization] = Field(min_length=1, max_length=MAX_PERSONALIZATIONS)
    from_: Address = Field(alias="from")
    reply_to: Address | None = None
    subject: str | None = Field(default=None, min_length=1)
    # Optional only with a template, which brings its own (see `_rules`).
    content: list[Content] = []
    headers: dict[str, str] | None = None
    custom_args: dict[str, str] | None = None
    categories: list[str] | None = None
    template_id: str | None = None
    send_at: int | None = None
    batch_id: str | None = None

    def custom_args_of_first(self) -> dict[str, str]:
        return {**(self.custom_args or {}), **(self.personalizations[0].custom_args or {})}

    def subject_of_first(self) -> str:
        return self.personalizations[0].subject or self.subject or ""

    def text(self) -> str:
        return next((c.value for c in self.content if c.type.lower() == "text/plain"), "")


def _duplicate(index: int, personalization: Personalization) -> ApiError | None:
    seen: set[str] = set()
    for kind, addresses in personalization.recipients().items():
        for address in addresses:
            # SendGrid compares addresses without regard to case.
            if address.email.lower() in seen:
                where = f"personalizations.{index}.{kind}"
                return refusals.error(
                    f"personalizations.{index}", refusals.duplicate(address.email, where)
                )
            seen.add(address.email.lower())
    return None


def _rules(mail: MailSend) -> list[ApiError]:
    """SendGrid's checks that span fields, beyond each field's own type."""
    errors = []
    templated = mail.template_id is not None
    subjects = [mail.subject] if mail.subject else [p.subject for p in mail.personalizations]
    if not templated and None in subjects:
        errors.append(refusals.error("subject", refusals.SUBJECT_REQUIRED))
    if not templated and not mail.content:
        errors.append(refusals.error("content", refusals.CONTENT_REQUIRED))
    types = [c.type.lower() for c in mail.content]
    if "text/plain" in types and types[0] != "text/plain":
        errors.append(refusals.error("content", refusals.PLAIN_FIRST))
    total = sum(len(a) for p in mail.personalizations for a in p.recipients().values())
    if total > MAX_RECIPIENTS:
        errors.append(refusals.error("personalizations", refusals.TOO_MANY_RECIPIENTS))
    for index, personalization in enumerate(mail.personalizations):
        if (found := _duplicate(index, personalization)) is not None:
            errors.append(found)
    return errors


def _unstorable(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the body holds text no UTF-8 reply can carry (a lone surrogate), if anywhere."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return path
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _unstorable(item, (*path, index))) is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            if (found := _unstorable(key, path) or _unstorable(item, (*path, key))) is not None:
                return found
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_mail(body: bytes) -> MailSend | list[ApiError]:
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return [ApiError(None, refusals.NOT_JSON)]
    if not isinstance(data, dict):
        return [ApiError(None, refusals.NOT_AN_OBJECT)]
    if (where := _unstorable(data)) is not None:
        return [refusals.error(refusals.dotted(where), refusals.NOT_UNICODE)]
    try:
        mail = MailSend.model_validate(data)
    except ValidationError as exc:
        return [refusals.translate(error) for error in exc.errors(include_url=False)]
    return _rules(mail) or mail
