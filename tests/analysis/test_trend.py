"""`make trend`: three saved runs, one of an older format, read and drawn in commit order, with
the gate's verdicts against the run before."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.metrics.compute import compute_metrics
from analysis.metrics.load import load_run
from analysis.metrics.summary_json import build_summary, write_summary
from analysis.names import AnalysisSettings
from analysis.trend import KEY_FIGURES, TrendRun, in_order, load_trend
from analysis.trend_report import plot_trend, write_trend
from benchmarks.synthetic import write_synthetic_run
from core.contracts import RAW_OPTIONAL

SCENARIOS = ("steady", "outage")
SETTINGS = AnalysisSettings(warmup_s=2.0)
# The gate's own defaults (analysis.cli): a slower build must be called a regression under them.
GATE = {"min_effect": 0.10, "max_change": 0.20}


def git_commits(repo: Path, n: int) -> list[str]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    repo.mkdir()
    git("init", "-q")
    shas = []
    for i in range(n):
        git(
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            f"commit {i}",
        )
        shas.append(git("rev-parse", "HEAD"))
    return shas


def saved_run(
    path: Path, sha: str, started_at: float, slower_s: dict[str, float] | None = None
) -> Path:
    write_synthetic_run(
        path, requests_per_run=500, duration_s=20.0, scenarios=SCENARIOS, slower_s=slower_s
    )
    meta = json.loads((path / "meta.json").read_text())
    meta |= {"git_sha": sha, "started_at": started_at}
    meta["settings"]["warmup_s"] = SETTINGS.warmup_s  # read back by every summary, raw or saved
    (path / "meta.json").write_text(json.dumps(meta))
    return path


def with_summary(path: Path, *, older: bool = False) -> None:
    run = load_run(path)
    summary = build_summary(run, compute_metrics(run, SETTINGS), SETTINGS)
    if older:  # as summary.json was written before it kept n, support and intervals
        for result in summary["results"]:
            for key in ("n", "supported", "interval_ms"):
                del result[key]
    write_summary(summary, path / "summary.json")


def make_older_raw(path: Path) -> None:
    """As the runner wrote before the pending list and the Locust worker column existed:
    no summary.json either, so the trend computes one from raw/, as `make report` would."""
    (path / "raw" / "pending.csv").unlink()
    for name, newer in RAW_OPTIONAL.items():
        csv = path / "raw" / f"{name}.csv"
        frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        frame.drop(columns=[c for c in newer if c in frame]).to_csv(csv, index=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    root = tmp_path_factory.mktemp("trend")
    shas = git_commits(root / "repo", 3)
    results = root / "results"
    # Folder names and start times both disagree with the commits' order: only git knows it.
    first = saved_run(results / "c-first", shas[0], 3.0)
    older = saved_run(results / "a-older", shas[1], 1.0)
    slower = saved_run(results / "b-slower", shas[2], 2.0, slower_s={"delegated": 0.5})
    with_summary(first, older=True)
    make_older_raw(older)
    with_summary(slower)
    (results / "latest").symlink_to("b-slower")
    return results, root / "repo", shas


def test_trend_reads_three_runs_one_older_in_commit_order(
    runs: tuple[Path, Path, list[str]],
) -> None:
    results, repo, shas = runs
    trend = load_trend(results, repo=repo, **GATE)
    assert trend.order == "commit"
    assert [r.path.name for r in trend.runs] == ["c-first", "a-older", "b-slower"]
    assert [r.sha for r in trend.runs] == shas
    points = trend.points
    # Every run gives every key figure for both variants, the older ones included.
    for i in range(3):
        mine = points[points["run"] == i]
        assert set(mine["variant"]) == {"sync", "delegated"}
        assert set(mine["metric"]) == {f.metric for f in KEY_FIGURES}, i
    # The older summary has no intervals; the current run has them.
    p50 = points[points["metric"] == "p50_ms"]
    assert p50[p50["run"] == 0]["low"].isna().all()
    assert p50[p50["run"] == 2]["low"].notna().all()


def test_trend_marks_the_gates_verdict_against_the_run_before(
    runs: tuple[Path, Path, list[str]],
) -> None:
    results, repo, _ = runs
    points = load_trend(results, repo=repo, **GATE).points
    steady = points[(points["metric"] == "p50_ms") & (points["scenario"] == "steady")]
    p50 = steady[steady["endpoint"] == "login"].set_index(["run", "variant"])["verdict"]
    assert p50[(0, "delegated")] == ""  # the first run has nothing before it
    # The same seeded data, read once from an older summary and once from older raw files.
    assert p50[(1, "delegated")] == "within noise"
    assert p50[(2, "delegated")] == "regression"  # delegated answers 0.5 s later
    assert p50[(2, "sync")] == "within noise"


def test_trend_draws_each_run_and_writes_its_table(
    runs: tuple[Path, Path, list[str]], tmp_path: Path
) -> None:
    results, repo, _ = runs
    trend = load_trend(results, repo=repo, **GATE)
    figure = next(f for f in KEY_FIGURES if f.metric == "p50_ms")
    chart = plot_trend(trend.points[trend.points["metric"] == "p50_ms"], figure, trend)
    panels = [ax for ax in chart.axes if ax.get_visible()]
    assert len(panels) == 2  # steady and outage logins
    lines = {
        line.get_label(): np.asarray(line.get_xdata()).tolist() for line in panels[0].get_lines()
    }
    assert lines == {"sync": [0, 1, 2], "delegated": [0, 1, 2]}
    written = write_trend(trend, tmp_path / "out")
    assert {p.name for p in written} >= {"trend.md", "trend.csv", "trend-p50_ms.png"}
    for png in (p for p in written if p.suffix == ".png"):
        assert png.read_bytes().startswith(b"\x89PNG")
    table = (tmp_path / "out" / "trend.md").read_text()
    assert "in commit order" in table and "**regression**" in table


def test_without_git_the_runs_go_in_start_time_order_and_say_so() -> None:
    runs = [TrendRun(Path(n), "f" * 40, t, {}) for n, t in (("b", 2.0), ("a", 1.0))]
    ordered, order = in_order(runs, {})
    assert order == "start time" and [r.path.name for r in ordered] == ["a", "b"]


def test_make_trend_writes_its_folder_and_refuses_an_empty_one(
    runs: tuple[Path, Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results, repo, _ = runs
    out = tmp_path / "trend"
    assert main(["trend", str(results), "--repo", str(repo), "--out", str(out)]) == 0
    assert "3 runs in commit order" in capsys.readouterr().out
    assert (out / "trend.csv").exists()
    (tmp_path / "empty").mkdir()
    assert main(["trend", str(tmp_path / "empty")]) == 2
    assert main(["trend", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "no runs in" in err and "no folder of runs" in err and "Traceback" not in err
