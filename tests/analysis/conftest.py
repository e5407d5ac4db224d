"""Fixtures: a small seeded results folder in the contract format, and its report, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.names import AnalysisSettings
from analysis.report.build import build_report
from benchmarks.synthetic import write_synthetic_run

FIXTURE_SCENARIOS = ("steady", "outage", "spike", "webhook-burst")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("results") / "20250101T000000Z-fixture"
    return write_synthetic_run(
        path, requests_per_run=600, duration_s=20.0, scenarios=FIXTURE_SCENARIOS, repeats=2
    )


@pytest.fixture(scope="session")
def report_dir(run_dir: Path) -> Path:
    build_report(run_dir, AnalysisSettings(warmup_s=2.0), processes=1)
    return run_dir
