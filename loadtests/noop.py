"""GET /noop at the arrival rate: the target's own overhead, and the load generator's ceiling.

    locust -f loadtests/noop.py --headless -u 50 -r 50 -t 10s --arrival-rate 500 \
        --host http://127.0.0.1:8001 --raw-out results/noop.csv
"""

from __future__ import annotations

from locust import task

from loadtests.users import BenchUser, current_run


class NoopUser(BenchUser):
    @task
    def noop(self) -> None:
        got = self.next_slot()
        if got is None:
            return
        slot, intended, start = got
        request_id = current_run().ids.for_slot(slot)
        self.call("noop", "GET", "/noop", request_id, intended, start)
