"""Command lines and environments are built without spawning anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.contracts import DEFAULT_VARIANTS, VARIANT_NAMES
from core.scenarios import (
    GROUPS,
    QUICK_DURATION_S,
    SCENARIO_NAMES,
    SCENARIOS,
    UnknownScenario,
    choose,
)
from core.settings import Settings
from runner import commands
from runner.bench import chosen, unowned_servers
from runner.children import UsageError
from runner.options import (
    SIDE_BY_SIDE_RESTARTING,
    BenchOptions,
    parse_variants,
    run_order,
    together,
)
from runner.stack import StackOptions


def test_servers_are_uvicorn_factories_without_access_logs() -> None:
    argv = commands.target_command("/py", "delegated", "127.0.0.1", 8002)
    assert argv[:5] == ["/py", "-m", "uvicorn", "targets.queued:delegated", "--factory"]
    assert argv[argv.index("--port") + 1] == "8002"
    assert "--no-access-log" in argv
    assert commands.provider_command("/py", "127.0.0.1", 8025)[3] == "provider.app:create_app"


def test_an_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="sync, delegated"):
        commands.target_command("/py", "inline", "127.0.0.1", 1)


def test_worker_and_seed_commands() -> None:
    assert commands.worker_command("/py", "delegated") == [
        "/py",
        "-m",
        "arq",
        "queues.arq.WorkerSettings",
    ]
    assert commands.seed_command("/py") == ["/py", "-m", "core.db", "seed"]


def test_env_passes_everything_down_and_overrides_by_field_name() -> None:
    env = commands.child_env({"PATH": "/bin", "SEED": "1"}, {"seed": 7, "poll_delay_s": None})
    assert env["PATH"] == "/bin" and env["SEED"] == "7" and env["PYTHONUNBUFFERED"] == "1"
    settings = Settings(database_path=Path("/d/b.db"))
    stack = commands.stack_env({"POLL_DELAY_S": "0.1"}, settings, "redis://x/0", "http://p:1")
    assert stack["REDIS_URL"] == "redis://x/0" and stack["PROVIDER_URL"] == "http://p:1"
    assert stack["DATABASE_PATH"] == "/d/b.db" and stack["POLL_DELAY_S"] == "0.1"


def test_every_child_of_a_stack_keeps_its_store_where_the_runner_does() -> None:
    # The embedded PostgreSQL of a run with the database queue: every variant's store is there.
    on_postgres = Settings(database_url="postgresql://bench@127.0.0.1:5/postgres")
    env = commands.stack_env({}, on_postgres, "redis://x/0", "http://p:1")
    assert env["DATABASE_URL"] == on_postgres.database_url
    # And a run on SQLite leaves no stale URL in the children's environment.
    on_sqlite = Settings(database_url=None)
    stale = {"DATABASE_URL": "postgresql://elsewhere/db"}
    assert "DATABASE_URL" not in commands.stack_env(stale, on_sqlite, "redis://x/0", "http://p")


def test_locust_command_follows_the_loadtests_options() -> None:
    run = commands.LocustRun(
        locustfile=Path("loadtests/login.py"),
        host="http://127.0.0.1:8001",
        duration_s=4.5,
        users=50,
        csv_prefix=Path("r/raw/locust/steady-sync-0"),
        raw_out=Path("r/x.csv"),
        scenario="steady",
        variant="sync",
        repeat=1,
        seed=3,
        provider_url="http://p",
        stages=((2.0, 10.0), (2.5, 40.0)),
        processes=2,
        options={"seed_users": 50},
    )
    argv = commands.locust_command("/py", run)
    joined = " ".join(argv)
    assert argv[:5] == ["/py", "-m", "locust", "-f", "loadtests/login.py"]
    assert "--headless -u 50 -r 50 -t 5s --host http://127.0.0.1:8001" in joined
    assert "--csv r/raw/locust/steady-sync-0" in joined
    assert "--raw-out r/x.csv --scenario steady --variant sync --repeat 1 --seed 3" in joined
    assert "--stages 2:10,2.5:40" in joined and "--arrival-rate" not in joined
    assert "--processes 2" in joined and "--seed-users 50" in joined


def test_scenarios_are_chosen_by_name_in_table_order() -> None:
    names = [s.name for s in choose("outage, steady", quick=False)]
    assert names == ["steady", "outage"]
    everyday = [s for s in SCENARIOS if not s.named_only]
    assert len(choose("", quick=False)) == len(everyday) == len(SCENARIO_NAMES) - 6
    with pytest.raises(UnknownScenario, match="unknown scenario nope: choose from steady"):
        choose("steady,nope", quick=False)


def test_quick_squeezes_load_fault_windows_and_kills_alike() -> None:
    full = choose("outage", quick=False)[0]
    outage = choose("outage", quick=True)[0]
    assert outage.duration_s == QUICK_DURATION_S
    ((window,), (full_window,)) = outage.timeline, full.timeline
    k = QUICK_DURATION_S / full.duration_s
    assert window["at_s"] == pytest.approx(full_window["at_s"] * k)
    assert window["duration_s"] == pytest.approx(full_window["duration_s"] * k)
    spike = choose("spike", quick=False, duration_s=4)[0]
    assert sum(d for d, _ in spike.stages) == pytest.approx(4)
    assert spike.peak_rate == choose("spike", quick=False)[0].peak_rate  # rates are kept
    crash = choose("worker-crash", quick=True)[0]
    assert crash.duration_s > QUICK_DURATION_S  # three kills need a little more room
    quarters = [crash.duration_s * q for q in (0.25, 0.5, 0.75)]
    assert [f.at_s for f in crash.worker_faults] == pytest.approx(quarters)
    described = crash.describe()
    assert described["timeline"][0]["target"] == "worker"
    # arq re-runs a killed worker's job after the longest job timeout + 10 s: shorter when quick,
    # with the provider's read timeout still inside the job's.
    assert choose("worker-crash", quick=False)[0].work_env["EMAIL_JOB_TIMEOUT_S"] == "5"
    env = crash.work_env
    assert env["EMAIL_JOB_TIMEOUT_S"] == env["TICKET_JOB_TIMEOUT_S"] == "2"
    assert float(env["PROVIDER_READ_TIMEOUT_S"]) < 2
    assert described["work_env"] == dict(env)


def test_variants_alternate_across_repeats() -> None:
    order = list(run_order(["a", "b"], 2))
    assert order[:2] == [("a", "sync", 0), ("a", "delegated", 0)]
    assert order[4:6] == [("a", "delegated", 1), ("a", "sync", 1)]
    assert len(order) == 8


def test_scenarios_that_share_a_work_env_run_next_to_each_other() -> None:
    # Each change of env restarts every variant's workers: the fewer changes, the shorter.
    scenarios = choose("steady,worker-crash,outage,redis-restart,webhook-burst", quick=False)
    order = [name for name, _, _ in run_order(scenarios, 1, ("sync",))]
    assert order == ["steady", "outage", "webhook-burst", "worker-crash", "redis-restart"]
    # A quick run's scenarios share one env but the worker crash's, run last: its targets and
    # workers restart once.
    quick = choose("", quick=True)
    envs = [tuple(sorted(s.work_env.items())) for s in quick]
    assert len(set(envs)) == 2
    assert [name for name, _, _ in run_order(quick, 1)][-1] == "worker-crash"


def test_quick_runs_keep_extra_variants_to_the_marked_scenarios() -> None:
    steady, spike = choose("steady,spike", quick=True)
    order = list(run_order([steady, spike], 1, ("sync", "delegated", "saq"), quick=True))
    assert order == [
        ("steady", "sync", 0),
        ("steady", "delegated", 0),
        ("steady", "saq", 0),
        ("spike", "sync", 0),
        ("spike", "delegated", 0),
    ]
    full = list(run_order([steady, spike], 1, ("sync", "saq")))
    assert [v for _, v, _ in full] == ["sync", "saq", "sync", "saq"]
    # A worker crash, quick: the default two, and every other variant that has workers.
    (crash,) = choose("worker-crash", quick=True)
    variants = ("sync", "delegated", "background", "saq")
    quick_crash = [v for _, v, _ in run_order([crash], 1, variants, quick=True)]
    assert quick_crash == ["sync", "delegated", "saq"]


def test_a_quick_run_gives_a_login_scenarios_variants_their_loads_at_once() -> None:
    scenarios = choose("steady,webhook-burst,deploy-during-outage", quick=True)
    order = list(run_order(scenarios, 2, VARIANT_NAMES, quick=True))
    groups = list(together(order, scenarios, side_by_side=True))
    # Every run once, in the order's order.
    assert [(n, v, r) for n, vs, r in groups for v in vs] == order
    sizes: dict[tuple[str, int], list[int]] = {}
    for name, variants, repeat in groups:
        sizes.setdefault((name, repeat), []).append(len(variants))
    # A login scenario's variants of one repetition at once; each repetition on its own.
    assert sizes[("steady", 0)] == sizes[("steady", 1)] == [len(VARIANT_NAMES)]
    # A webhook names its order, which every variant pays: one at a time.
    assert set(sizes[("webhook-burst", 0)]) == {1}
    # Restarting every variant's target at once would starve their start-ups.
    restarts = sizes[("deploy-during-outage", 0)]
    assert max(restarts) == SIDE_BY_SIDE_RESTARTING and sum(restarts) == len(VARIANT_NAMES)
    # Told not to, or a full run: one at a time.
    alone = list(together(order, scenarios, side_by_side=False))
    assert [len(vs) for _, vs, _ in alone] == [1] * len(order)


def test_variants_are_chosen_by_name_or_all() -> None:
    assert parse_variants("") == DEFAULT_VARIANTS
    assert parse_variants("all") == VARIANT_NAMES
    assert parse_variants("saq, sync") == ("sync", "saq")  # the table's order
    with pytest.raises(UsageError, match="unknown variant nope: choose from sync"):
        parse_variants("sync,nope")


def test_a_group_name_stands_for_its_scenarios_and_named_only_rows_run_only_when_named() -> None:
    designs = [s.name for s in choose("ticket-designs", quick=True)]
    assert designs == list(GROUPS["ticket-designs"])
    assert "big-orders-monolithic" in designs
    assert "big-orders-monolithic" not in [s.name for s in choose("", quick=False)]


def test_every_variants_port_and_url_options_reach_the_stack_a_dash_in_its_name_too(
    tmp_path: Path,
) -> None:
    from runner.__main__ import build_parser, stack_options

    argv = ["bench", "--celery-acks-late-port", "9123", "--celery-acks-late-url", "http://h:1"]
    args = build_parser(Settings()).parse_args(argv)
    options = stack_options(args, tmp_path)
    assert options.ports["celery-acks-late"] == 9123
    assert options.urls["celery-acks-late"] == "http://h:1"


def test_a_scenario_that_fails_a_server_the_run_does_not_own_is_skipped_saying_why() -> None:
    two = BenchOptions(StackOptions(), scenarios="steady,db-stall,redis-stall", quick=True)
    scenarios, skipped = chosen(two, Settings())
    assert [s.name for s in scenarios] == ["steady", "redis-stall"]
    assert skipped == [
        {"scenario": "db-stall", "reason": unowned_servers(Settings(), two.variants)["postgres"]}
    ]
    assert "VARIANTS=procrastinate" in skipped[0]["reason"]
    # With a database-queue variant the runner starts its PostgreSQL, and may fail it.
    stack = StackOptions(variants=("sync", "procrastinate"))
    mine = BenchOptions(stack=stack, scenarios="db-stall", quick=True)
    assert [s.name for s in chosen(mine, Settings())[0]] == ["db-stall"]
    # A Redis of the user's own is never stopped.
    theirs = Settings(redis_url="redis://127.0.0.1:6379/0")
    with pytest.raises(UsageError, match="REDIS_URL points at a Redis"):
        chosen(BenchOptions(StackOptions(), scenarios="redis-stall", quick=True), theirs)
