"""The pages that describe a results folder name every raw file, with core.contracts' columns."""

from __future__ import annotations

import re

import pytest

from core.contracts import RAW_FILES, raw_columns
from core.settings import PROJECT_ROOT


def documented_columns() -> dict[str, list[str]]:
    """Each `- `raw/<name>.csv`: ... `a, b, c`` item of docs/contracts.md: its column list."""
    text = (PROJECT_ROOT / "docs" / "contracts.md").read_text()
    items = re.finditer(r"^- `raw/(\w+)\.csv`:[^`]*`([^`]+)`", text, re.MULTILINE)
    return {
        item[1]: [re.sub(r"\s*\(.*\)", "", c).strip() for c in item[2].split(",")] for item in items
    }


@pytest.mark.parametrize("name", list(RAW_FILES))
def test_contracts_md_lists_each_raw_file_with_its_columns(name: str) -> None:
    assert documented_columns().get(name) == list(raw_columns(name))


def test_the_results_readme_names_every_raw_file() -> None:
    text = (PROJECT_ROOT / "results" / "README.md").read_text()
    assert [n for n in RAW_FILES if f"raw/{n}.csv" not in text] == []


def test_contracts_md_points_only_at_files_a_clone_has() -> None:
    text = (PROJECT_ROOT / "docs" / "contracts.md").read_text()
    assert "../shared" not in text
