"""What the provider accepted, keyed by idempotency key, and what it did to every request."""

from __future__ import annotations

import base64
import random
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Message:
    id: str
    to: str
    subject: str
    kind: str | None
    work_id: str | None
    request_id: str | None
    idempotency_key: str | None
    attempts: int
    first_at: float
    last_at: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Capture:
    def __init__(self, seed: int) -> None:
        self.reset(seed)

    def reset(self, seed: int) -> None:
        # Message ids come from their own stream so they never shift the fault draws.
        self._ids = random.Random(f"message-ids:{seed}")
        self._messages: list[Message] = []
        self._by_key: dict[str, Message] = {}
        self.events: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.fault_kinds: Counter[str] = Counter()

    def _new_id(self) -> str:
        # SendGrid's X-Message-Id is 22 url-safe base64 characters.
        raw = self._ids.getrandbits(128).to_bytes(16, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def record(
        self,
        *,
        to: str,
        subject: str,
        custom_args: dict[str, str],
        request_id: str | None,
        idempotency_key: str | None,
        deduplicate: bool,
        text: str,
        now: float,
    ) -> Message:
        """Store an accepted message; with `deduplicate`, a known key only counts an attempt.

        Without it a known key is a second message (counted as `resent`): the duplicate email a
        provider without idempotency sends, which the analysis finds by its repeated work id.
        """
        known = self._by_key.get(idempotency_key) if idempotency_key else None
        if known is not None and deduplicate:
            known.attempts += 1
            known.last_at = now
            self.events["duplicates"] += 1
            return known
        if known is not None:
            self.events["resent"] += 1
        message = Message(
            id=self._new_id(),
            to=to,
            subject=subject,
            kind=custom_args.get("kind"),
            work_id=custom_args.get("work_id"),
            request_id=request_id or custom_args.get("request_id"),
            idempotency_key=idempotency_key,
            attempts=1,
            first_at=now,
            last_at=now,
            text=text,
        )
        self._messages.append(message)
        if idempotency_key:
            self._by_key[idempotency_key] = message
        self.events["accepted"] += 1
        return message

    def messages(
        self,
        *,
        to: str | None = None,
        kind: str | None = None,
        work_id: str | None = None,
        since: float | None = None,
    ) -> list[Message]:
        return [
            m
            for m in self._messages
            if (to is None or m.to == to)
            and (kind is None or m.kind == kind)
            and (work_id is None or m.work_id == work_id)
            and (since is None or m.last_at >= since)
        ]

    def counters(self) -> dict[str, Any]:
        names = (
            "requests",
            "accepted",
            "duplicates",
            "resent",
            "unauthorized",
            "invalid",
            "rate_limited",
            "errors",
            "hung",
            "reset",
            "lost_responses",
        )
        return {
            **{name: self.events[name] for name in names},
            "messages": len(self._messages),
            "by_status": {str(status): n for status, n in sorted(self.statuses.items())},
            "by_fault": dict(sorted(self.fault_kinds.items())),
        }
