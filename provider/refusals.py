"""SendGrid's error bodies: its own messages and help links, and pydantic's errors in its words.

The messages are SendGrid's where its documentation or its answers show them; the rest follow
their pattern. A body is `{"errors": [{"message", "field", "help"}]}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."

FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the"
    ' email parameter, but may also contain a name parameter.  e.g. {"email" :'
    ' "example@example.com"}  or {"email" : "example@example.com", "name" : "Example'
    ' Recipient"}.'
)
PERSONALIZATIONS_REQUIRED = (
    "The personalizations field is required and must have at least one personalization."
)
TO_REQUIRED = (
    "The to array is required for all personalization objects, and must have at least one"
    " email object with a valid email address."
)
CONTENT_REQUIRED = (
    "Unless a valid template_id is provided, the content parameter is required. There must be at"
    " least one defined content block. We typically suggest both text/plain and text/html"
    " blocks are included, but only one block is required."
)
SUBJECT_REQUIRED = (
    "The subject is required. You can get around this requirement if you use a template with a"
    " subject defined or if every personalization has a subject defined."
)
TOO_MANY_RECIPIENTS = "There is a limit of 1000 total recipients (to + cc + bcc) per request."
INVALID_ADDRESS = "Does not contain a valid address."
PLAIN_FIRST = "If present, text/plain must be first."
NOT_JSON = "The request body could not be parsed as JSON."
NOT_AN_OBJECT = "The request body must be a JSON object."
NOT_UNICODE = "The text of this field is not valid Unicode (it holds a lone surrogate)."
TOO_LARGE = "The JSON payload you have included in your request is too large."
UNAUTHORIZED = "The provided authorization grant is invalid, expired, or revoked"
NOT_JSON_CONTENT_TYPE = "Content-Type should be application/json."

# pydantic's error types, as the JSON type SendGrid's schema expected.
_EXPECTED = {
    "string_type": "string",
    "list_type": "array",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "int_type": "integer",
    "bool_type": "boolean",
}


@dataclass(frozen=True)
class ApiError:
    field: str | None
    message: str
    help: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "message": self.message, "help": self.help}


def dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _anchor(field: str) -> str:
    """SendGrid's help anchor: `personalizations.to` for personalizations.3.bcc.0.email."""
    names = [part for part in field.split(".") if not part.isdigit()]
    if names[0] == "personalizations" and len(names) > 1:
        return "personalizations.to"
    return ".".join(names[:2])


def error(field: str, message: str) -> ApiError:
    return ApiError(field, message, HELP + _anchor(field))


def duplicate(address: str, where: str) -> str:
    return (
        "Each email address in the personalization block should be unique between to, cc, and"
        f" bcc. We found the first duplicate instance of [{address}] in the {where} field."
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, kind):
            return name
    return "array" if isinstance(value, list) else "object"


def _required(names: tuple[str | int, ...], field: str, kind: str, ctx: dict[str, Any]) -> ApiError:
    """A missing, empty or oversized field, in SendGrid's words where it has them."""
    if names[0] == "from":
        return error("from.email", FROM_REQUIRED)
    if names == ("personalizations",):
        if kind == "too_long":
            return error(
                field,
                "The personalization block is limited to 1000 personalizations per API request."
                f" You have provided {ctx.get('actual_length')} personalizations. Please consider"
                " splitting this into multiple requests and resending your request.",
            )
        return error(field, PERSONALIZATIONS_REQUIRED)
    if names == ("personalizations", "to"):
        return error(field, TO_REQUIRED)
    if names[-1] == "email":
        return error(field, f"The {names[-2]} email parameter is required.")
    what = " ".join(map(str, names))
    return error(field, f"The {what} must be a string at least one character in length.")


def translate(found: ErrorDetails) -> ApiError:
    """One pydantic error as SendGrid would word it."""
    loc = tuple(found["loc"])
    field = dotted(loc)
    names = tuple(part for part in loc if not isinstance(part, int))
    kind = found["type"]
    if kind in {"missing", "too_short", "too_long", "string_too_short"}:
        return _required(names, field, kind, dict(found.get("ctx") or {}))
    if kind in _EXPECTED:
        given = _json_type(found.get("input"))
        return error(field, f"Invalid type. Expected: {_EXPECTED[kind]}, given: {given}.")
    return error(field, found["msg"])
