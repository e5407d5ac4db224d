"""meta.json records which lock file the environment came from, by content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.settings import Settings
from runner.meta import LOCK_FILE, lock, masked_settings, new_meta
from runner.stack import StackOptions


def test_the_lock_file_is_recorded_by_its_hash_and_null_without_one(tmp_path: Path) -> None:
    assert lock(tmp_path) is None
    (tmp_path / LOCK_FILE).write_text("arq==0.28.0\n")
    digest = hashlib.sha256(b"arq==0.28.0\n").hexdigest()
    assert lock(tmp_path) == {"file": "requirements.lock", "sha256": digest}


def test_a_database_password_never_reaches_meta_json() -> None:
    settings = Settings(database_url="postgresql://bench:s3cret@db.example:5432/bench")
    meta = new_meta(
        label="t",
        settings=settings,
        warmup_s=0.0,
        seed=1,
        repeat=1,
        quick=True,
        stack=StackOptions(urls={"sync": "http://10.0.0.2:8001"}),
        locust_processes=1,
        scenarios=[],
        skipped=[],
        expect_workers=2,
    )
    assert meta["database"]["kind"] == "postgresql"
    assert "db.example" in meta["database"]["url"]
    assert "s3cret" not in json.dumps(meta)
    assert set(meta["not_sampled"]) == {"target-sync", "locust-workers"}


def test_the_embedded_database_is_recorded_as_sqlite(tmp_path: Path) -> None:
    settings = Settings(database_path=tmp_path / "bench.db")
    assert masked_settings(settings)["database_url"] is None
    meta = new_meta(
        label="t",
        settings=settings,
        warmup_s=0.0,
        seed=1,
        repeat=1,
        quick=True,
        stack=StackOptions(),
        locust_processes=1,
        scenarios=[],
        skipped=[],
    )
    assert meta["database"]["kind"] == "sqlite"
    assert meta["not_sampled"] == {}
