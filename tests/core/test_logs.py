from __future__ import annotations

import json
import logging

import pytest

from core import logs


def test_every_library_logs_json_with_addresses_and_secrets_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.getLogger("arq.worker").addHandler(logging.StreamHandler())  # as arq's CLI does
    logging.getLogger("arq").addHandler(logging.StreamHandler())
    logs.configure("worker", "INFO")
    logging.getLogger("arq.worker").info(
        "→ send_magic_link('r1', 'user42@example.com', 'http://t/login/verify?token=abc.def')"
    )
    logs.event(logging.getLogger("jobs"), "dead_letter", work_id="login:r1", secret="whsec_x1")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["process"] == "worker" and first["logger"] == "arq.worker"
    assert "user42@example.com" not in first["message"]
    assert "u***@example.com" in first["message"]
    assert "token=***" in first["message"]
    assert second["work_id"] == "login:r1" and second["secret"] == "whsec_***"
