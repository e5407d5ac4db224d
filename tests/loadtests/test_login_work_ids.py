"""A real Locust login run against a real sync target: each row's work id is the server's."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import httpx

from core.contracts import work_endpoint
from core.db import Store
from core.settings import Settings
from targets import sync
from tests.support import messages, serve

REPO = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).with_name("locust")


def test_login_rows_carry_the_work_id_the_answer_named_and_follow_it(
    settings: Settings, store: Store, provider: httpx.Client, tmp_path: Path
) -> None:
    raw = tmp_path / "requests.csv"
    with serve(sync.create_app(settings)) as url:
        command = [str(LOCUST), "-f", "loadtests/login.py", "--headless", "-u", "10", "-r", "10"]
        command += ["-t", "5s", "--host", url, "--arrival-rate", "5", "--raw-out", str(raw)]
        command += ["--provider-url", settings.provider_url, "--follow-share", "1"]
        command += ["--seed-users", str(settings.seed_users), "--only-summary"]
        done = subprocess.run(
            command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=120
        )
    assert done.returncode in (0, 1), done.stderr

    with raw.open() as f:
        rows = list(csv.DictReader(f))
    logins = [r for r in rows if r["endpoint"] == "login" and r["status"] == "202"]
    assert len(logins) >= 3, f"too short a run to judge: {len(logins)} logins"
    # Every load-test request id is different here, so only the server's ids could be the rows'.
    work = [r["work_id"] for r in logins]
    assert len(set(work)) == len(work) and {work_endpoint(w) for w in work} == {"login"}
    assert not {r["request_id"] for r in logins} & {w.partition(":")[2] for w in work}
    registered = {r["work_id"] for r in logins if r["registered"] == "true"}
    assert {m["work_id"] for m in messages(provider, kind="magic_link")} == registered
    # The follow-ups found their emails by that work id and signed in.
    verified = [r for r in rows if r["endpoint"] == "verify" and r["status"] == "200"]
    assert verified and {r["work_id"] for r in verified} <= registered
