"""The harness's own PostgreSQL: started by the stack with the machine's server out of reach."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.postgres_server import PostgresNotFound, find_postgres_bin
from core.settings import PROJECT_ROOT

# Run in a network namespace of its own: its loopback has no server on 5432, whatever the
# machine runs. It starts the stack's database as `make bench` would for the database queue,
# pauses, resumes, stops and starts it again (the lead's faults), and reports what it saw.
SCRIPT = """
import json, socket, sys, time
from contextlib import ExitStack
from pathlib import Path
import psycopg
from core.settings import Settings
from runner.stack import Stack, StackOptions

try:
    socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    machine = True
except OSError:
    machine = False
seen = {"machine_server_reachable": machine}
with ExitStack() as exits:
    options = StackOptions(variants=("sync", "procrastinate"), log_dir=Path(sys.argv[1]))
    stack = Stack(Settings(database_url=None), options, exits)
    stack.start_database()
    url = stack.settings.database_url
    seen["url"] = url
    with psycopg.connect(url) as conn:
        seen["data_directory"] = conn.execute("SHOW data_directory").fetchone()[0]
    stack.pause_postgres(True)
    try:
        psycopg.connect(url, connect_timeout=2).close()
        seen["answered_while_paused"] = True
    except psycopg.OperationalError:
        seen["answered_while_paused"] = False
    stack.pause_postgres(False)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (x int)")
    stack.stop_postgres()
    stack.launch_postgres()
    with psycopg.connect(url) as conn:
        seen["kept_after_restart"] = conn.execute("SELECT to_regclass('kept')").fetchone()[0]
print(json.dumps(seen))
"""


def in_own_network(tmp_path: Path) -> list[str]:
    try:
        find_postgres_bin()
    except PostgresNotFound as exc:
        pytest.skip(str(exc))
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("this user cannot create a network namespace")
    command = f'ip link set lo up && exec "{sys.executable}" -c "$0" "$1"'
    return ["unshare", "--net", "sh", "-c", command, SCRIPT, str(tmp_path)]


def test_the_stack_starts_its_own_postgresql_where_no_other_answers(tmp_path: Path) -> None:
    before = set((PROJECT_ROOT / "var").glob("postgres-*"))
    done = subprocess.run(
        in_own_network(tmp_path), capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["machine_server_reachable"] is False  # nothing else could have answered
    assert seen["url"].startswith("postgresql://bench@127.0.0.1:")
    data = Path(seen["data_directory"])
    assert data.parent == PROJECT_ROOT / "var" and data.name.startswith("postgres-")
    assert seen["answered_while_paused"] is False
    assert seen["kept_after_restart"] == "kept"  # a clean stop keeps the data
    assert not data.exists()  # removed when the stack closed
    assert set((PROJECT_ROOT / "var").glob("postgres-*")) == before
