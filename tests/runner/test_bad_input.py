"""`python -m runner bench` refuses bad options in one line, exit 2, before starting anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from core.contracts import VARIANT_NAMES
from tests.runner.helpers import CWD, runner_argv

# (options after `bench --results-dir RESULTS`, the start of stderr's one line)
CASES = {
    "unknown scenario": (
        ["--scenarios", "steady,nope"],
        "error: unknown scenario nope: choose from steady, slow-provider, outage, rate-limited,"
        " spike, webhook-burst, hung-ticket",
    ),
    "unknown variant": (
        ["--variants", "sync,nope"],
        f"error: unknown variant nope: choose from {', '.join(VARIANT_NAMES)}, or all",
    ),
    "zero duration": (
        ["--duration-s", "0"],
        "error: python -m runner bench: argument --duration-s",
    ),
    "unknown option": (["--bogus"], "error: python -m runner: unrecognized arguments: --bogus"),
    "results folder is a file": (["--results-dir", "{tmp}/file"], "error: cannot create a results"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_options_are_one_line_and_exit_2(
    case: str, tmp_path: Path, runner_env: dict[str, str]
) -> None:
    (tmp_path / "file").write_text("")
    options, message = CASES[case]
    results = tmp_path / "results"
    argv = runner_argv(
        "bench",
        "--results-dir",
        str(results),
        *(o.replace("{tmp}", str(tmp_path)) for o in options),
    )
    done = subprocess.run(argv, env=runner_env, cwd=CWD, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(message), line
    assert not results.exists()  # nothing started, nothing written


def test_a_redis_url_that_is_not_one_is_one_line(
    tmp_path: Path, runner_env: dict[str, str]
) -> None:
    # It once waited out the 5 s health deadline and said "not healthy".
    results = tmp_path / "results"
    argv = runner_argv("bench", "--results-dir", str(results))
    env = {**runner_env, "REDIS_URL": "notaurl"}
    done = subprocess.run(argv, env=env, cwd=CWD, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: environment variable REDIS_URL:") and "not a Redis URL" in line
    assert not results.exists()


def test_the_help_says_what_the_defaults_do(runner_env: dict[str, str]) -> None:
    def help_of(*command: str) -> str:
        argv = runner_argv(*command, "--help")
        done = subprocess.run(argv, env=runner_env, cwd=CWD, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return " ".join(done.stdout.split())

    assert "both variants" not in help_of() + help_of("bench")
    bench = help_of("bench")
    assert "default: all but those run only when named: hung-ticket-monolithic," in bench
    assert "worker processes per queue variant" in bench and "arq worker" not in bench
