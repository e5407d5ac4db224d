"""The demo's pure parts: rate validation, fault names, and tailing a CSV that is being written."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.controls import ControlError, parse_rate
from demo.faults import FAULTS, fault_name
from demo.feed import Tail


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
    assert tail.read() == []  # not written yet
    path.write_text("a,b\n1,x\n2,")
    assert tail.read() == [{"a": "1", "b": "x"}]
    with path.open("a") as f:
        f.write("y\n")
    assert tail.read() == [{"a": "2", "b": "y"}]
    assert tail.read() == []
