"""Hypothesis strategies for raw requests: bodies the OpenAPI schemas do not describe."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

from core import signatures

Param = str | int | float | bool | None


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, Param]] = field(default_factory=list)
    content: bytes | None = None
    # Sent with chunked transfer encoding and no Content-Length, so the body is streamed.
    chunked: bool = False
    note: str = ""

    def with_note(self, note: str) -> RawRequest:
        return replace(self, note=note)

    def describe(self, limit: int = 300) -> str:
        body = repr(self.content[:limit]) if self.content is not None else "-"
        if self.content is not None and len(self.content) > limit:
            body += f" (+{len(self.content) - limit} bytes)"
        note = f" {self.note}" if self.note else ""
        sent = f"params={self.params} headers={self.headers} body={body}"
        return f"{self.method} {self.path} {sent}{note}"


# Control characters in a header make a malformed request that uvicorn's parser refuses itself,
# before any app sees it; those answers are uvicorn's, not the harness's.
header_chars = st.characters(codec="latin-1", exclude_categories=["Cc"])
# Numbers JSON allows and numbers it does not (Python's json writes NaN and Infinity literals).
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, float("nan"), float("inf"), -float("inf")]),
)
# Lone surrogates survive json.dumps as "\udXXX" escapes, a classic way past UTF-8 checks.
texts = st.one_of(
    st.text(max_size=40),
    # A codec would leave the lone surrogates (Cs) out.
    st.text(st.characters(categories=["Cc", "Cs", "So", "Lo"]), max_size=20),
    st.sampled_from(["", " ", "\x00", "\ud800", "\udfff@example.com", "é@ü.example", "1e9"]),
    st.integers(min_value=1, max_value=5).map(lambda n: "x" * (10**n)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


garbage = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b" ", b"{", b"[", b"null", b"NaN", b"-Infinity", b"\xff\xfe\x00", b"{}"]),
    st.sampled_from([b"[" * 5000 + b"]" * 5000, nested(3000), nested(900)]),
    st.sampled_from([b'{"email": "\xed\xa0\x80@x.io"}', b'{"email": "\xc3\x28@x.io"}']),
    st.just(b"[" + b"1," * 40_000 + b"1]"),  # over the 64 KiB body limit
)


@st.composite
def json_bytes(draw: st.DrawFn, value: st.SearchStrategy[Any]) -> bytes:
    """A value as JSON bytes, in several encodings a client might pick."""
    style = draw(st.sampled_from(["ascii", "utf8", "utf16", "spaced"]))
    if style == "utf16":
        return json.dumps(draw(value)).encode("utf-16")
    text = json.dumps(
        draw(value), ensure_ascii=style == "ascii", indent=2 if style == "spaced" else None
    )
    return text.encode("utf-8", "surrogatepass")


def bodies(value: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(json_bytes(value), json_bytes(json_values), garbage)


content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json",
            "APPLICATION/JSON; charset=utf-8",
            "application/json;charset=latin-1",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json-patch+json",
            "",
        ]
    ),
    st.text(header_chars, max_size=30),
)
request_ids = st.one_of(
    st.just("fuzz-1"),
    st.text("abc:.-_", min_size=1, max_size=8),
    st.text(header_chars, max_size=200),
)


@st.composite
def headers(draw: st.DrawFn, /, **fixed: str) -> dict[str, str]:
    found = dict(fixed)
    if draw(st.booleans()):
        found["Content-Type"] = draw(content_types)
    else:
        found.setdefault("Content-Type", "application/json")
    if draw(st.booleans()):
        found["X-Request-ID"] = draw(request_ids)
    return found


good_emails = st.integers(0, 60).map(lambda i: f"user{i}@example.com")
# Shaped like an address, with any text (control characters, lone surrogates) before the @.
odd_emails = texts.map(lambda local: f"{local}@example.com")


def emails() -> st.SearchStrategy[Any]:
    return st.one_of(
        good_emails, st.just("nobody1@example.net"), st.emails(), odd_emails, texts, json_values
    )


@st.composite
def login_requests(draw: st.DrawFn) -> RawRequest:
    login = st.fixed_dictionaries({"email": emails()}, optional={"extra": json_values})
    return RawRequest(
        "POST",
        "/login",
        draw(headers()),
        content=draw(bodies(st.one_of(login, json_values))),
        chunked=draw(st.booleans()),
    )


order_ids = st.one_of(st.integers(1, 5).map(str), st.integers(1, 5), json_values, numbers)


def events() -> st.SearchStrategy[Any]:
    metadata = st.fixed_dictionaries({"metadata": st.fixed_dictionaries({"order_id": order_ids})})
    event = st.fixed_dictionaries(
        {
            "id": st.one_of(st.uuids().map(lambda u: f"evt_{u.hex}"), texts),
            "type": st.sampled_from(["checkout.session.completed", "payment_intent.succeeded"]),
            "data": st.fixed_dictionaries({"object": metadata}),
        },
        optional={"livemode": json_values},
    )
    return st.one_of(event, json_values, event.map(lambda e: {**e, "type": 1, "data": []}))


@st.composite
def webhook_requests(draw: st.DrawFn, secret: str) -> RawRequest:
    # Mostly well-formed events, so that signed ones reach the order lookup.
    body = draw(st.one_of(*[json_bytes(events())] * 3, bodies(json_values)))
    signature = draw(
        st.one_of(
            st.just(signatures.sign(secret, body)),  # the body as sent; reaches the parser
            st.just(signatures.sign(secret, body)),
            st.just(signatures.sign(secret, body, timestamp=1)),
            st.just(signatures.sign("wrong", body)),
            st.text(header_chars, max_size=80),
        )
    )
    fixed = {} if draw(st.integers(0, 9)) == 0 else {signatures.HEADER: signature}
    return RawRequest("POST", "/webhooks/payment", draw(headers(**fixed)), content=body)


def addresses() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"email": emails()}, optional={"name": texts}), json_values
    )


def mails() -> st.SearchStrategy[Any]:
    content = st.fixed_dictionaries(
        {"type": st.sampled_from(["text/plain", "text/html"]) | texts, "value": texts}
    )
    # Few distinct addresses, so the same one in to and cc (refused) comes up often.
    recipients = st.lists(
        addresses() | st.sampled_from([{"email": "user1@example.com"}]), max_size=3
    )
    personalization = st.fixed_dictionaries(
        {"to": recipients},
        optional={
            "cc": recipients,
            "bcc": recipients | json_values,
            "subject": texts,
            "custom_args": st.dictionaries(texts, texts | json_values, max_size=3),
            "headers": st.dictionaries(texts, json_values, max_size=2),
            "dynamic_template_data": st.dictionaries(texts, json_values, max_size=3),
            "send_at": numbers,
        },
    )
    return st.fixed_dictionaries(
        {
            "personalizations": st.lists(personalization, max_size=3) | json_values,
            "from": addresses(),
        },
        optional={
            # Left out, a template stands in for it (with a template_id) or it is refused.
            "content": st.lists(content, max_size=3) | json_values,
            "subject": texts,
            "template_id": st.just("d-0123456789abcdef") | texts | json_values,
            "custom_args": json_values,
            "categories": json_values,
        },
    )


def plausible_mails() -> st.SearchStrategy[Any]:
    """Mails SendGrid would mostly accept, with odd text wherever the capture keeps some."""
    address = st.fixed_dictionaries({"email": good_emails | odd_emails | st.emails()})
    text = texts.filter(bool)
    kept = st.sampled_from(["kind", "work_id", "request_id"])
    personalization = st.fixed_dictionaries(
        {"to": st.lists(address, min_size=1, max_size=2, unique_by=lambda a: a["email"].lower())},
        optional={"subject": text, "custom_args": st.dictionaries(kept, texts, max_size=3)},
    )
    plain = st.fixed_dictionaries({"type": st.just("text/plain"), "value": text})
    return st.fixed_dictionaries(
        {
            "personalizations": st.lists(personalization, min_size=1, max_size=2),
            "from": st.just({"email": "login@delegate-bench.test"}),
            "subject": text,
            "content": st.lists(plain, min_size=1, max_size=1),
        }
    )


@st.composite
def mail_requests(draw: st.DrawFn, api_key: str) -> RawRequest:
    auth = draw(
        st.sampled_from([f"Bearer {api_key}"] * 4 + ["", "Bearer", f"bearer {api_key}", "Basic x"])
    )
    fixed = {"Authorization": auth, "Idempotency-Key": draw(request_ids)}
    # Two in three are plausible mails, to be accepted and read back from the capture, in
    # ASCII JSON as most clients write it (lone surrogates arrive as escapes). A branch repeated
    # in one_of would be merged, not weighted, hence the draw.
    plausible = plausible_mails().map(lambda mail: json.dumps(mail).encode())
    body = draw(
        plausible if draw(st.integers(0, 2)) else st.one_of(json_bytes(mails()), bodies(mails()))
    )
    return RawRequest("POST", "/v3/mail/send", draw(headers(**fixed)), content=body)


def near(low: float, high: float) -> st.SearchStrategy[Any]:
    """Numbers inside a field's range most of the time, anything JSON (and beyond) otherwise."""
    return st.one_of(st.floats(low, high), st.floats(low, high), numbers, json_values)


def fault_models() -> st.SearchStrategy[Any]:
    latency = st.fixed_dictionaries(
        {},
        optional={
            "kind": st.sampled_from(["none", "fixed", "uniform", "lognormal"]) | texts,
            "ms": near(0, 1e6),
            "min_ms": near(0, 1e6),
            "max_ms": near(0, 1e9),
            "median_ms": near(0, 1e6),
            "sigma": near(0, 10),
        },
    )
    error = st.fixed_dictionaries(
        {"status": st.integers(400, 599) | json_values, "probability": near(0, 0.3)},
        optional={"retry_after_s": near(0, 1e9)},
    )
    rate_limit = st.fixed_dictionaries(
        {"per_s": near(5e-324, 1e12)}, optional={"burst": st.integers(1, 2**70) | json_values}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "latency": latency,
            "errors": st.lists(error, max_size=3),
            "rate_limit": rate_limit | st.none(),
            "hang_probability": near(0, 0.3),
            "hang_max_s": near(5e-324, 1e308),
            "reset_probability": near(0, 0.3),
            "lost_response_probability": near(0, 1),
            "idempotency": st.booleans() | json_values,
        },
    )


def timelines() -> st.SearchStrategy[Any]:
    event = st.fixed_dictionaries(
        {"at_s": near(0, 1e308), "duration_s": near(5e-324, 1e308)},
        optional={"faults": fault_models(), "label": texts},
    )
    return st.fixed_dictionaries({"events": st.lists(event, max_size=4)}) | json_values


@st.composite
def control_requests(draw: st.DrawFn) -> RawRequest:
    method, path, model = draw(
        st.sampled_from(
            [
                ("PUT", "/control/faults", fault_models()),
                ("POST", "/control/timeline", timelines()),
                ("POST", "/control/reset", st.fixed_dictionaries({"seed": numbers})),
            ]
        )
    )
    return RawRequest(method, path, draw(headers()), content=draw(bodies(model)))
