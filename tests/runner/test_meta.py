"""meta.json records which lock file the environment came from, by content."""

from __future__ import annotations

import hashlib
from pathlib import Path

from runner.meta import LOCK_FILE, lock


def test_the_lock_file_is_recorded_by_its_hash_and_null_without_one(tmp_path: Path) -> None:
    assert lock(tmp_path) is None
    (tmp_path / LOCK_FILE).write_text("arq==0.28.0\n")
    digest = hashlib.sha256(b"arq==0.28.0\n").hexdigest()
    assert lock(tmp_path) == {"file": "requirements.lock", "sha256": digest}
