"""The stack's own PostgreSQL: started when a variant's queue lives in the database."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING

from core.postgres_server import (
    PostgresNotFound,
    PostgresServer,
    answers,
    fast_shutdown,
    new_server,
    pause,
    remove,
    signal_server,
)
from core.settings import Settings
from queues import needs_database
from runner.children import Child, StackError, UsageError, wait_healthy

if TYPE_CHECKING:
    from runner.stack import StackOptions


def shut_down(server: Child) -> None:
    if server.alive():  # not reaped: its pid is still the server's, not another process's
        fast_shutdown(server.pid)


class DatabaseParts:
    """`Stack`'s methods for its PostgreSQL, as it has `start_redis` and `kill_redis` for Redis."""

    settings: Settings
    options: StackOptions
    exits: ExitStack
    children: dict[str, Child]
    postgres: PostgresServer | None

    def child(self, name: str, argv: list[str], env: Mapping[str, str]) -> Child:
        raise NotImplementedError  # Stack's

    def start_database(self) -> None:
        """With a variant whose queue lives in the database and no DATABASE_URL, start the
        harness's own PostgreSQL: every variant's store is then in it, so none is measured on
        SQLite against another on PostgreSQL."""
        if self.settings.database_url or not needs_database(self.options.variants):
            return
        try:
            server = new_server(self.options.host)
        except PostgresNotFound as exc:
            raise UsageError(str(exc)) from None
        self.exits.callback(remove, server)  # runs after the server's own stop
        try:
            server.init()
        except RuntimeError as exc:
            raise StackError(f"the embedded PostgreSQL: {exc}") from None
        self.postgres = server
        self.settings = self.settings.model_copy(update={"database_url": server.url})
        self.launch_postgres()

    def launch_postgres(self) -> Child:
        """Start the embedded PostgreSQL (again) on its port and folder; wait until it answers."""
        assert self.postgres is not None, "PostgreSQL is not the harness's own"
        url = self.postgres.url
        child = self.child("postgres", self.postgres.command(), os.environ)
        self.exits.callback(shut_down, child)  # before the child's own stop
        wait_healthy("postgres", lambda: answers(url), self.options.health_deadline_s, [child])
        return child

    def stop_postgres(self) -> Child:
        """Stop the embedded PostgreSQL cleanly (its fast shutdown: sessions cut, data kept)."""
        victim = self.children.pop("postgres")
        shut_down(victim)
        victim.stop()
        return victim

    def kill_postgres(self) -> Child:
        """SIGKILL the embedded PostgreSQL and every backend (a crash; recovery on restart)."""
        victim = self.children.pop("postgres")
        if victim.alive():
            signal_server(victim.pid, signal.SIGKILL)
        victim.kill()
        return victim

    def pause_postgres(self, paused: bool) -> None:
        """SIGSTOP (or SIGCONT) the server and every backend: connections open, unanswered."""
        pause(self.children["postgres"].pid, paused)
