"""GET /noop at the arrival rate: the target's own overhead, and the load generator's ceiling.

    locust -f loadtests/noop.py --headless -u 50 -r 50 -t 10s --arrival-rate 500 \
        --host http://127.0.0.1:8001 --raw-out results/noop.csv

--get-path GETs another path instead (e.g. a slow endpoint, to calibrate against wrk).
"""

from __future__ import annotations

from locust import task

from loadtests.users import BenchUser, current_run


class NoopUser(BenchUser):
    @task
    def noop(self) -> None:
        got = self.take_slot()
        if got is None:
            return
        slot, intended = got
        run = current_run()
        request_id = run.ids.for_slot(slot)  # before the wait: outside the timed window
        start = self.wait_for(intended)
        if start is not None:
            self.call("noop", "GET", run.options.get_path, request_id, intended, start)
