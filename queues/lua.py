"""A Lua script run by its digest: one EVALSHA, and the script sent again if Redis lost it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError


class Script:
    """Lighter than redis-py's registered script, which pays on every run for pipeline support
    that nothing here uses (README, "The harness's own speed")."""

    def __init__(self, client: Redis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
        except NoScriptError:  # a restarted Redis has no scripts
            await self.client.script_load(self.source)
            return await self.client.evalsha(self.sha, len(keys), *keys, *args)  # type: ignore[misc]
