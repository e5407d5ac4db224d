"""The body of SendGrid's v3 mail send, validated as strictly as a client would notice."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


@dataclass(frozen=True)
class ApiError:
    field: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message, "help": None}


class _Model(BaseModel):
    # SendGrid has many optional fields this fake does not model; they are accepted and ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Address(_Model):
    email: str
    name: str | None = None

    @field_validator("email")
    @classmethod
    def _plausible(cls, email: str) -> str:
        if not _ADDRESS.match(email):
            raise PydanticCustomError("email", "Does not contain a valid address.")
        return email


class Personalization(_Model):
    to: list[Address] = Field(min_length=1, max_length=1000)
    cc: list[Address] | None = None
    bcc: list[Address] | None = None
    subject: str | None = Field(default=None, min_length=1)
    headers: dict[str, str] | None = None
    custom_args: dict[str, str] | None = None
    substitutions: dict[str, Any] | None = None
    dynamic_template_data: dict[str, Any] | None = None
    send_at: int | None = None


class Content(_Model):
    type: str = Field(min_length=1)
    value: str = Field(min_length=1)


class MailSend(_Model):
    personalizations: list[Personalization] = Field(min_length=1, max_length=1000)
    from_: Address = Field(alias="from")
    reply_to: Address | None = None
    subject: str | None = Field(default=None, min_length=1)
    content: list[Content] = Field(min_length=1)
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


def _rules(mail: MailSend) -> list[ApiError]:
    """SendGrid's checks that span fields, beyond each field's own type."""
    errors = []
    if mail.subject is None and any(p.subject is None for p in mail.personalizations):
        errors.append(
            ApiError(
                "subject",
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject.",
            )
        )
    types = [c.type.lower() for c in mail.content]
    if "text/plain" in types and types[0] != "text/plain":
        errors.append(ApiError("content", "If present, text/plain must be first."))
    return errors


def parse_mail(body: bytes) -> MailSend | list[ApiError]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return [ApiError(None, "The request body could not be parsed as JSON.")]
    if not isinstance(data, dict):
        return [ApiError(None, "The request body must be a JSON object.")]
    try:
        mail = MailSend.model_validate(data)
    except ValidationError as exc:
        return [
            ApiError(".".join(str(part) for part in error["loc"]) or None, error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        ]
    return _rules(mail) or mail
