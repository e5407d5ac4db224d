"""The demo's pure parts: rates, fault names, tailing a CSV, counting work, the docs' charts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.contracts import login_work_id, raw_columns
from demo.controls import ControlError, parse_rate
from demo.docs_charts import CHARTS, DocsError, copy_charts
from demo.faults import FAULTS, fault_name
from demo.feed import Tail
from demo.work import WorkBook, read_requests


@pytest.mark.parametrize("bad", ["", "abc", "nan", "inf", "0", "-3", "1000", None])
def test_a_bad_rate_says_what_is_allowed(bad: object) -> None:
    with pytest.raises(ControlError, match=r"arrival rate must be a number from 0\.5 to 50"):
        parse_rate(bad)


def test_a_good_rate_is_read() -> None:
    assert parse_rate(" 12.5 ") == 12.5


def test_every_fault_model_is_recognised_as_the_provider_reports_it() -> None:
    for name, faults in FAULTS.items():
        assert fault_name(faults) == name
    assert fault_name({"hang_probability": 0.5}) == "custom"


def test_tail_returns_only_complete_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    tail = Tail(path)
    assert tail.read() == ""  # not written yet
    path.write_text("a,b\n1,x\n2,")
    assert tail.read() == "a,b\n1,x\n"
    with path.open("a") as f:
        f.write("y\n")
    assert tail.read() == "a,b\n2,y\n"  # the header again: each read is a CSV of its own
    assert tail.read() == ""


def requests_csv(*rows: tuple[str, str, int, str]) -> str:
    """(variant, login id, status, registered) per request: raw/requests.csv as Locust writes it."""
    lines = [",".join(raw_columns("requests"))]
    for variant, login, status, registered in rows:
        error = "" if status < 400 else f"http_{status}"
        values = {
            **dict(scenario="demo", variant=variant, repeat="1", endpoint="login"),
            **dict(intended_start="100.0", start="100.0", end="100.2", status=str(status)),
            **dict(error=error, request_id=login, work_id=login_work_id(login)),
            "registered": registered,
        }
        lines.append(",".join(values.get(c, "") for c in raw_columns("requests")))
    return "\n".join(lines) + "\n"


def email(login: str, message_id: str, first_at: float, attempts: int = 1) -> dict[str, object]:
    """A message as the provider's /control/messages lists it."""
    return {
        "id": message_id,
        "kind": "magic_link",
        "work_id": login_work_id(login),
        "attempts": attempts,
        "first_at": first_at,
        "last_at": first_at,
    }


def test_the_page_counts_work_as_the_analysis_does() -> None:
    book = WorkBook(["sync", "delegated"])
    book.add_requests(
        read_requests(
            requests_csv(
                ("sync", "s1", 200, "true"),
                ("sync", "s2", 503, "true"),  # an error promised nothing
                ("delegated", "d1", 202, "true"),
                ("delegated", "d2", 202, "true"),
                ("delegated", "d3", 202, "true"),
                ("delegated", "d4", 202, "true"),
                ("delegated", "d5", 202, "false"),  # an unknown address is sent nothing
            )
        )
    )
    book.add_messages([email("s1", "m1", 100.15), email("d1", "m2", 101.2)])
    book.add_messages([email("d1", "m2", 101.2, attempts=2)])  # re-read after a retry: once
    book.add_messages([email("elsewhere", "m3", 100.5)])  # no request of ours promised it
    book.add_job_events([{"outcome": "dead_letter", "work_id": login_work_id("d2")}])
    queued = [{"job_id": "login:d3", "function": "send_magic_link", "work_id": "login:d3"}]
    counted = book.count(queued)
    assert counted["sync"] == {
        "expected": 1,
        "delivered": 1,
        "pending": 0,
        "lost": 0,
        "dead_lettered": 0,
        "completion_p50_ms": 150.0,
        "completion_p99_ms": 150.0,
    }
    delegated = counted["delegated"]
    assert (delegated["expected"], delegated["delivered"]) == (4, 1)
    assert (delegated["dead_lettered"], delegated["pending"], delegated["lost"]) == (1, 1, 1)
    assert delegated["completion_p50_ms"] == 1200.0


def test_no_rows_yet_count_as_nothing() -> None:
    counted = WorkBook(["sync"]).count([])
    assert counted["sync"]["expected"] == 0
    assert counted["sync"]["completion_p50_ms"] is None


def test_docs_charts_copies_the_chosen_charts_and_says_where_they_came_from(
    tmp_path: Path,
) -> None:
    run = tmp_path / "20250101T000000Z-full"
    (run / "charts").mkdir(parents=True)
    meta = {"git_sha": "abc123", "command": "python -m runner bench", "quick": False}
    (run / "meta.json").write_text(json.dumps(meta))
    for name in [*CHARTS, "extra.png"]:
        (run / "charts" / name).write_bytes(b"png " + name.encode())
    out = tmp_path / "docs" / "charts"
    out.mkdir(parents=True)
    (out / "stale.png").write_bytes(b"old")
    copy_charts(run, out)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(CHARTS)
    assert (out / "summary.png").read_bytes() == b"png summary.png"
    readme = (out / "README.md").read_text()
    for fact in (run.name, "abc123", "python -m runner bench", "a full run"):
        assert fact in readme


def test_docs_charts_names_the_charts_a_run_lacks(tmp_path: Path) -> None:
    (tmp_path / "charts").mkdir()
    (tmp_path / "meta.json").write_text("{}")
    with pytest.raises(DocsError, match=r"lacks charts/summary\.png"):
        copy_charts(tmp_path, tmp_path / "out")
    with pytest.raises(DocsError, match=r"no readable meta\.json"):
        copy_charts(tmp_path / "nowhere", tmp_path / "out")
