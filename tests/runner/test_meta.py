"""meta.json records which lock file the environment came from, by content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

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


def test_meta_records_which_broker_each_celery_variant_ran_on_without_its_password() -> None:
    def queues(broker_url: str | None) -> dict[str, Any]:
        settings = Settings(redis_url=None, celery_broker_url=broker_url)  # before Redis starts
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
            variants=("sync", "celery", "celery-acks-late"),
        )
        assert "s3cret" not in json.dumps(meta)
        found: dict[str, Any] = meta["queues"]
        return found

    embedded = queues(None)
    assert set(embedded) == {"celery", "celery-acks-late"}  # sync hands nothing to a queue
    assert embedded["celery"]["broker"] == "redis" and embedded["celery"]["harness_redis"]
    assert (embedded["celery"]["acks_late"], embedded["celery-acks-late"]["acks_late"]) == (
        False,
        True,
    )
    assert embedded["celery"]["visibility_timeout_s"] == 3600  # kombu's default, left alone
    rabbit = queues("amqp://bench:s3cret@127.0.0.1:5672//")["celery-acks-late"]
    assert (rabbit["broker"], rabbit["broker_host"]) == ("amqp", "127.0.0.1:5672")
    assert not rabbit["harness_redis"]
