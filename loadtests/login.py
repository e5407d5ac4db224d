"""Magic-link logins: a seeded mix of registered and unknown addresses; some follow the link.

    locust -f loadtests/login.py --headless -u 200 -r 100 -t 60s --arrival-rate 20 \
        --host http://127.0.0.1:8001 --provider-url http://127.0.0.1:8025

A --follow-share of the registered logins that were accepted fetch their email from the fake
provider's capture API a moment later and open the link (GET /login/verify). Those follow-ups are
extra requests, outside the arrival slots; an email that never shows up is counted, not recorded.

Each row's work id is the one the login's answer names (X-Work-ID): the server makes it, since the
X-Request-ID sent here only correlates (two logins may share one and still promise two emails).
"""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlencode

import gevent
from locust import task

from loadtests.plans import login_choice, magic_link_token
from loadtests.users import BenchUser, Run, current_run

FOLLOW_DELAY_S = 2.0  # a person opens the email a moment later
FOLLOW_RETRY_S = (0.5, 1.0, 2.0, 4.0)  # the email may still be on its way: ~10 s at most
PROVIDER_TIMEOUT_S = 2.0


def fetch_token(provider_url: str, work_id: str) -> str | None:
    """The magic-link token in the captured email for work_id, if it has arrived."""
    url = f"{provider_url.rstrip('/')}/control/messages?{urlencode({'work_id': work_id})}"
    try:
        with urllib.request.urlopen(url, timeout=PROVIDER_TIMEOUT_S) as r:
            doc = json.load(r)
    except (OSError, ValueError):
        return None
    return magic_link_token(doc)


class LoginUser(BenchUser):
    @task
    def login(self) -> None:
        got = self.next_slot()
        if got is None:
            return
        slot, intended, start = got
        run = current_run()
        o = run.options
        choice = login_choice(o.seed, slot, o.registered_share, o.follow_share, o.seed_users)
        answer = self.call(
            "login",
            "POST",
            "/login",
            run.ids.for_slot(slot),
            intended,
            start,
            data=json.dumps({"email": choice.email}),
            headers={"Content-Type": "application/json"},
            registered="true" if choice.registered else "false",
        )
        if choice.follow and 200 <= answer.status < 300 and answer.work_id:
            run.followups.spawn(self.follow, run, slot, answer.work_id)

    def follow(self, run: Run, slot: int, work_id: str) -> None:
        run.count("followups")
        gevent.sleep(FOLLOW_DELAY_S)
        token = fetch_token(run.options.provider_url, work_id)
        for pause in FOLLOW_RETRY_S:
            if token is not None:
                break
            gevent.sleep(pause)
            token = fetch_token(run.options.provider_url, work_id)
        if token is None:
            run.count("followups_no_email")
            return
        now = time.time()
        answer = self.call(
            "verify",
            "GET",
            f"/login/verify?token={token}",
            run.ids.for_slot(slot, "/verify"),
            now,
            now,
            name="/login/verify",
            work_id=lambda _r: work_id,
            registered="true",
        )
        if 200 <= answer.status < 300:
            run.count("followups_verified")
