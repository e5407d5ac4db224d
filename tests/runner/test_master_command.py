"""--expect-workers makes the runner's Locust a master only, bound where workers can reach it."""

from __future__ import annotations

from pathlib import Path

from runner.commands import LocustRun, locust_command


def test_a_master_for_workers_elsewhere_waits_for_them_bounded() -> None:
    run = LocustRun(
        locustfile=Path("loadtests/login.py"),
        host="http://10.200.0.2:8001",
        duration_s=4,
        users=10,
        csv_prefix=Path("out/x"),
        raw_out=Path("out/x.csv"),
        scenario="steady",
        variant="sync",
        repeat=0,
        seed=1,
        provider_url="http://10.200.0.1:8025",
        processes=3,  # ignored: the workers are the user's
        expect_workers=2,
        expect_workers_wait_s=30,
        master_bind_host="10.200.0.4",
        master_bind_port=5600,
    )
    joined = " ".join(locust_command("python", run))
    assert "--master --expect-workers 2 --expect-workers-max-wait 30" in joined
    assert "--master-bind-host 10.200.0.4 --master-bind-port 5600" in joined
    assert "--processes" not in joined
