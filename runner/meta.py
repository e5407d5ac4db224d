"""meta.json: what was run, on what, with which settings; written again after every run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from core.settings import PROJECT_ROOT, Settings

SCHEMA_VERSION = 1
SECRET_FIELDS = ("provider_api_key", "webhook_secret", "provider_control_token")
PACKAGES = (
    "delegate-bench", "arq", "redis", "fastapi", "starlette", "uvicorn", "httpx", "pydantic",
    "locust", "gevent", "psutil", "pandas",
)  # fmt: skip


def git_sha(root: Path = PROJECT_ROOT) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=root, capture_output=True, text=True, timeout=5,
    )  # fmt: skip
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def packages() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cpu() -> dict[str, Any]:
    model = platform.processor() or None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    freq = psutil.cpu_freq()
    return {
        "model": model,
        "logical": os.cpu_count(),
        "physical": psutil.cpu_count(logical=False),
        "max_mhz": round(freq.max, 1) if freq else None,
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "memory_mb": round(psutil.virtual_memory().total / 2**20),
    }


def masked_settings(settings: Settings) -> dict[str, Any]:
    values = settings.model_dump(mode="json")
    for name in SECRET_FIELDS:
        if values.get(name):
            values[name] = "***"
    return values


def write_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    """Replace meta.json atomically: a reader never sees half a file."""
    tmp = run_dir / ".meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    tmp.replace(run_dir / "meta.json")
