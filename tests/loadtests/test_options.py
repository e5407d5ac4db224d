from __future__ import annotations

import argparse

import configargparse  # type: ignore[import-untyped]  # Locust's parser is built on it
import pytest

from core.settings import DEFAULT_WEBHOOK_SECRET
from loadtests.options import Options, add_arguments, env_var, parse_stages


def parse(args: list[str], env: dict[str, str] | None = None) -> Options:
    parser = configargparse.ArgumentParser(default_config_files=[])
    add_arguments(parser)
    ns: argparse.Namespace = parser.parse_args(args, env_vars=env or {})
    return Options.from_namespace(ns)


def test_defaults() -> None:
    assert parse([]) == Options()
    o = Options()
    assert (o.arrival_rate, o.stages, o.closed_model, o.raw_out) == (10.0, (), False, "")
    assert (o.late_threshold_ms, o.provider_url) == (10.0, "http://127.0.0.1:8025")
    assert (o.registered_share, o.follow_share, o.redelivery_share) == (0.8, 0.1, 0.1)
    assert (o.ack_timeout_s, o.webhook_secret) == (10.0, DEFAULT_WEBHOOK_SECRET)
    assert (o.seed_users, o.seed_orders, o.order_offset) == (10_000, 5_000, 0)


def test_flags_and_env_vars() -> None:
    o = parse(
        ["--arrival-rate", "50", "--stages", "10:20, 10:40", "--scenario", "spike"],
        {"BENCH_VARIANT": "delegated", "BENCH_REPEAT": "3", "BENCH_CLOSED_MODEL": "true"},
    )
    assert (o.arrival_rate, o.stages, o.scenario) == (50.0, ((10.0, 20.0), (10.0, 40.0)), "spike")
    assert (o.variant, o.repeat, o.closed_model) == ("delegated", 3, True)


def test_a_flag_beats_its_env_var() -> None:
    assert parse(["--seed", "7"], {"BENCH_SEED": "9"}).seed == 7


def test_every_env_var_is_bench_prefixed() -> None:
    assert env_var("--late-threshold-ms") == "BENCH_LATE_THRESHOLD_MS"


@pytest.mark.parametrize(
    "args",
    [
        ["--stages", "10"],
        ["--stages", "10:x"],
        ["--stages", "0:5"],
        ["--arrival-rate", "0"],
        ["--follow-share", "1.5"],
    ],
)
def test_bad_values_stop_with_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(args)
    assert exc.value.code == 2
    assert args[0] in capsys.readouterr().err


def test_stages_text() -> None:
    assert parse_stages("") == ()
    assert parse_stages("5:0,2.5:100") == ((5.0, 0.0), (2.5, 100.0))
    with pytest.raises(ValueError, match="duration_s:rate"):
        parse_stages("5:-1")


def test_options_shipped_to_a_worker_keep_their_meaning() -> None:
    # Locust sends parsed_options to workers as plain values, with our extra keys beside them.
    ns = argparse.Namespace(**vars(parse(["--stages", "1:2"])), bench_worker_count=2)
    ns.stages = "1:2"
    assert Options.from_namespace(ns).stages == ((1.0, 2.0),)
    assert Options.from_namespace(None) == Options()
