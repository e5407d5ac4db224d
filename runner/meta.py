"""meta.json: what was run, on what, with which settings; written again after every run."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from core.contracts import DEFAULT_VARIANTS
from core.db import describe_database
from core.settings import PROJECT_ROOT, Settings
from queues import has_workers, queue_of
from queues import packages as queue_packages
from runner.stack import StackOptions

SCHEMA_VERSION = 1
LOCK_FILE = "requirements.lock"  # the pinned environment a run was made in
# database_url may carry a password; meta.json keeps its masked form under "database".
SECRET_FIELDS = (
    "provider_api_key",
    "webhook_secret",
    "provider_control_token",
    "database_url",
    "celery_broker_url",
)
# With each queue adapter's own (queues.packages()).
PACKAGES = (
    "delegate-bench",
    "redis",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "pydantic",
    "locust",
    "gevent",
    "psutil",
    "pandas",
    "opentelemetry-sdk",
)


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
        cwd=root,
        capture_output=True,
        text=True,
        timeout=5,
    )
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def packages() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in (*PACKAGES, *queue_packages()):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def lock(root: Path = PROJECT_ROOT) -> dict[str, str] | None:
    """Which lock file the environment was installed from, by content."""
    try:
        digest = hashlib.sha256((root / LOCK_FILE).read_bytes()).hexdigest()
    except OSError:
        return None
    return {"file": LOCK_FILE, "sha256": digest}


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


def queue_descriptions(variants: tuple[str, ...], settings: Settings) -> dict[str, Any]:
    found = {name: queue_of(name, settings) for name in variants}
    return {name: queue.describe() for name, queue in found.items() if queue is not None}


def not_sampled(settings: Settings, stack: StackOptions, expect_workers: int) -> dict[str, str]:
    """Processes the runner did not start, so it has no CPU or memory samples of them: why."""
    missing: dict[str, str] = {}
    if settings.redis_url:
        missing["redis"] = "REDIS_URL: a Redis the runner did not start"
    for name, url in stack.urls.items():
        missing[f"target-{name}"] = f"runs elsewhere ({url})"
    if any(has_workers(name) for name in stack.urls) or stack.workers == 0:
        missing["worker"] = "queue workers run elsewhere, against the same Redis"
    if expect_workers:
        missing["locust-workers"] = f"{expect_workers} Locust workers started elsewhere"
    return missing


def new_meta(
    *,
    label: str,
    settings: Settings,
    warmup_s: float,
    seed: int,
    repeat: int,
    quick: bool,
    stack: StackOptions,
    locust_processes: int,
    scenarios: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    variants: tuple[str, ...] = DEFAULT_VARIANTS,
    expect_workers: int = 0,
    side_by_side: bool = False,
) -> dict[str, Any]:
    """meta.json as a bench starts: marked incomplete until it ends well."""
    return {
        "schema_version": SCHEMA_VERSION,
        "label": label,
        "started_at": datetime.now(UTC).isoformat(),
        "finished_at": None,
        "complete": False,
        "incomplete_reason": "running",
        "git_sha": git_sha(),
        "command": shlex.join(["python", *sys.orig_argv[1:]]),  # what to run to do it again
        "packages": packages(),
        "lock": lock(),
        "cpu": cpu(),
        # The analysis trims this much of each run's start from latency figures.
        "settings": {**masked_settings(settings), "warmup_s": warmup_s},
        "database": describe_database(settings),
        # Each queue's own account of itself (a broker, its acknowledgement settings).
        "queues": queue_descriptions(variants, settings),
        "seed": seed,
        "repeat": repeat,
        "quick": quick,
        # A login scenario's variants had their loads at the same time, sharing the machine.
        "side_by_side": side_by_side,
        "variants": list(variants),
        "workers": stack.workers,
        "locust_processes": locust_processes,
        "external_targets": dict(stack.urls),
        "expect_workers": expect_workers,
        "not_sampled": not_sampled(settings, stack, expect_workers),
        "scenarios": scenarios,
        "skipped": skipped,
        # The floor's row sets: which rate each repeat of scenario `floor` used, per variant.
        "floor": [],
        "runs": [],
        "flags": [],
    }


def write_meta(run_dir: Path, meta: dict[str, Any]) -> None:
    """Replace meta.json atomically: a reader never sees half a file."""
    tmp = run_dir / ".meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n")
    tmp.replace(run_dir / "meta.json")
