"""The login's steps for every variant: magic links as a lookup selector plus a hashed secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from jinja2 import Environment, PackageLoader, select_autoescape

from core.contracts import login_work_id, magic_link_key
from core.db import LinkState, Store
from core.email import Email
from core.settings import Settings

SELECTOR_BYTES = 12
VERIFIER_BYTES = 32  # 256 bits of secret
SUBJECT = "Your sign-in link"

templates = Environment(
    loader=PackageLoader("core", "templates"),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
)


def new_token() -> tuple[str, str, str]:
    """Return (token for the link, selector, hash of the verifier to store)."""
    selector = secrets.token_urlsafe(SELECTOR_BYTES)
    verifier = secrets.token_urlsafe(VERIFIER_BYTES)
    return f"{selector}.{verifier}", selector, hash_verifier(verifier)


def hash_verifier(verifier: str) -> str:
    return hashlib.sha256(verifier.encode()).hexdigest()


def render(name: str, link: str, ttl_s: int) -> tuple[str, str]:
    context = {"name": name, "link": link, "ttl_minutes": ttl_s // 60}
    text = templates.get_template("magic_link.txt").render(context)
    html = templates.get_template("magic_link.html").render(context)
    return text, html


def prepare(
    store: Store, address: str, login_id: str, link_base: str, settings: Settings, now: float
) -> Email | None:
    """Look the user up; for a registered one, store a new link and render its email.

    `login_id` is the server's id of the login (never the client's X-Request-ID): the email's
    work id and idempotency key derive from it.
    """
    user = store.user_by_email(address)
    if user is None:
        return None
    token, selector, verifier_hash = new_token()
    store.add_magic_link(
        selector, verifier_hash, user.id, login_id, now + settings.magic_link_ttl_s
    )
    link = f"{link_base.rstrip('/')}/login/verify?token={token}"
    text, html = render(user.name, link, settings.magic_link_ttl_s)
    return Email(
        to=user.email,
        subject=SUBJECT,
        text=text,
        html=html,
        kind="magic_link",
        work_id=login_work_id(login_id),
        request_id=login_id,
        idempotency_key=magic_link_key(login_id),
    )


def consume(store: Store, token: str, now: float) -> tuple[LinkState, int | None]:
    selector, dot, verifier = token.partition(".")
    if not dot or not selector or not verifier or len(token) > 256:
        return LinkState.UNKNOWN, None
    wanted = hash_verifier(verifier)
    return store.consume_magic_link(
        selector, lambda stored: hmac.compare_digest(stored, wanted), now
    )
