"""The results folder: its name, `latest`, and the raw CSVs appended run by run."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.contracts import RAW_FILES, raw_columns
from core.logs import mask


def new_run_dir(results_dir: Path, label: str, now: datetime | None = None) -> Path:
    """results/<UTC timestamp>-<label>/, never one that exists already."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = f"{stamp}-{label}" if label else stamp
    results_dir.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = results_dir / (base if n == 0 else f"{base}.{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free folder name for {base} in {results_dir}")


def point_latest(results_dir: Path, run_dir: Path) -> None:
    link = results_dir / "latest"
    tmp = results_dir / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    tmp.replace(link)  # atomic: `latest` is never missing while it moves


class RawFiles:
    """Append-only CSVs under raw/, each with its header written once."""

    def __init__(self, run_dir: Path) -> None:
        self.raw = run_dir / "raw"
        self.raw.mkdir(parents=True, exist_ok=True)
        for name in RAW_FILES:
            path = self.path(name)
            if not path.exists():
                path.write_text(",".join(raw_columns(name)) + "\n")

    def path(self, name: str) -> Path:
        return self.raw / f"{name}.csv"

    def append(self, name: str, rows: Iterable[Mapping[str, Any]]) -> int:
        columns = raw_columns(name)
        count = 0
        with open(self.path(name), "a", newline="") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore", lineterminator="\n")
            for row in rows:
                writer.writerow({c: _cell(row.get(c)) for c in columns})
                count += 1
        return count


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"
    return value


def delivery_rows(messages: Sequence[Mapping[str, Any]], run: Mapping[str, Any]) -> list[Json]:
    return [
        {
            **run,
            "message_id": m.get("id"),
            "kind": m.get("kind"),
            "work_id": m.get("work_id"),
            "request_id": m.get("request_id"),
            "idempotency_key": m.get("idempotency_key"),
            "to": mask(str(m.get("to", ""))),
            "attempts": m.get("attempts"),
            "first_at": m.get("first_at"),
            "last_at": m.get("last_at"),
        }
        for m in messages
    ]


Json = dict[str, Any]
