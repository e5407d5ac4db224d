"""Read a results folder (meta.json and raw/*.csv) into frames with explicit dtypes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from analysis.names import RUN
from core.contracts import (
    CLOCK_OFFSETS,
    FLOOR_SCENARIO,
    PROVIDER_CLOCK,
    RAW_FILES,
    RAW_OPTIONAL,
    WORK_ENDPOINT_OF_PREFIX,
    locust_worker_clock,
)


class RunError(Exception):
    """A results folder that cannot be analysed; the message is one line for the user."""


# Columns the analysis never uses: skipped, so a run of 1M requests holds no 1M strings for them.
SKIPPED: Final = {
    "requests": ("request_id",),
    "deliveries": ("message_id", "request_id", "idempotency_key", "to"),
}


def raw_dtypes(name: str) -> dict[str, str]:
    """The columns of raw/<name>.csv the analysis reads, with their dtypes (core.contracts)."""
    skipped = SKIPPED.get(name, ())
    return {c: t for c, t in RAW_FILES[name].items() if c not in skipped}


@dataclass(frozen=True)
class Run:
    path: Path
    meta: dict[str, Any]
    runs: pd.DataFrame
    windows: pd.DataFrame
    requests: pd.DataFrame
    deliveries: pd.DataFrame
    dead_letters: pd.DataFrame
    pending: pd.DataFrame
    queue_samples: pd.DataFrame
    process_samples: pd.DataFrame
    jobs: pd.DataFrame = field(default_factory=lambda: empty_frame(raw_dtypes("jobs")))
    orders: pd.DataFrame = field(default_factory=lambda: empty_frame(raw_dtypes("orders")))
    # GET /noop per variant before the scenarios: the harness's own floor, kept out of the rest.
    floor: pd.DataFrame = field(default_factory=lambda: empty_frame(raw_dtypes("requests")))


def load_run(path: Path) -> Run:
    if not path.is_dir():
        raise RunError(f"no results folder at {path}")
    meta = read_meta(path)
    raw = path / "raw"
    offsets = clock_offsets(meta)
    requests_csv = _read_csv(raw, "requests", required=True)
    every = normalize_requests(on_runner_clock(requests_csv, offsets, REQUEST_TIMES))
    is_floor = (every["scenario"].astype("str") == FLOOR_SCENARIO).to_numpy()
    requests = every[~is_floor].reset_index(drop=True)
    if requests.empty:
        why = meta.get("incomplete_reason") or "no scenario recorded a request"
        raise RunError(f"{path} is incomplete: it holds no scenario's requests ({why})")
    requests["scenario"] = requests["scenario"].cat.remove_unused_categories()
    return Run(
        path=path,
        meta=meta,
        runs=runs_frame(meta, requests),
        windows=windows_frame(meta),
        requests=requests,
        deliveries=normalize_deliveries(
            on_runner_clock(_read_csv(raw, "deliveries"), offsets, DELIVERY_TIMES)
        ),
        dead_letters=_read_csv(raw, "dead_letters"),
        pending=_read_csv(raw, "pending"),
        queue_samples=_read_csv(raw, "queue_samples"),
        process_samples=_read_csv(raw, "process_samples"),
        jobs=_read_csv(raw, "jobs"),
        orders=_read_csv(raw, "orders"),
        floor=every[is_floor].reset_index(drop=True),
    )


# Times taken on another host's clock: a request's on its Locust worker's, a delivery's on the
# provider's. Each is moved onto the runner's clock by that host's offset in meta.json.
REQUEST_TIMES: Final = ("intended_start", "start", "end")
DELIVERY_TIMES: Final = ("first_at", "last_at")
Offsets = dict[tuple[str, str, int, str], float]


def clock_offsets(meta: dict[str, Any]) -> Offsets:
    """(scenario, variant, repeat, host) -> that host's clock minus the runner's, in seconds."""
    out: Offsets = {}
    for r in meta.get("runs") or []:
        hosts = r.get(CLOCK_OFFSETS) if isinstance(r, dict) else None
        for host, probe in (hosts or {}).items() if isinstance(hosts, dict) else ():
            offset = _float(probe.get("offset_s")) if isinstance(probe, dict) else math.nan
            if offset and math.isfinite(offset):
                key = (str(r.get("scenario")), str(r.get("variant")), int(r.get("repeat") or 0))
                out[(*key, str(host))] = offset
    return out


def on_runner_clock(frame: pd.DataFrame, offsets: Offsets, times: tuple[str, ...]) -> pd.DataFrame:
    """Subtract each row's host offset from its times (a host without one: 0)."""
    if not offsets or frame.empty:
        return frame
    out = frame.copy()
    keys = [out[c].astype("str").to_numpy() for c in ("scenario", "variant")]
    repeat = out["repeat"].to_numpy()
    if "worker" in out:  # requests: the Locust worker that made each ("0": the only one)
        workers = out["worker"].astype("string").fillna("0")
        hosts = workers.map({w: locust_worker_clock(w) for w in workers.unique()}).to_numpy()
    else:  # deliveries: the provider
        hosts = np.full(len(out), PROVIDER_CLOCK, dtype=object)
    for (scenario, variant, rep, host), offset in offsets.items():
        mine = (keys[0] == scenario) & (keys[1] == variant) & (repeat == rep) & (hosts == host)
        for column in times:
            out.loc[mine, column] = out.loc[mine, column] - offset
    return out


def resolve_run_dir(path: Path) -> Path:
    """Follow results/latest whether it is a symlink or a file holding the folder's name."""
    if path.is_file():
        target = Path(path.read_text().strip())
        return target if target.is_absolute() else path.parent / target
    return path


def read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise RunError(f"{meta_path} is missing: is {path} a results folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(f"{meta_path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("schema_version") != 1:
        raise RunError(f"{meta_path} is not a schema_version 1 run description")
    return meta


def _read_csv(raw: Path, name: str, *, required: bool = False) -> pd.DataFrame:
    """raw/<name>.csv with the contract's dtypes; a column older runs lack is read as empty."""
    path = raw / f"{name}.csv"
    dtypes = raw_dtypes(name)
    if not path.exists():
        if required:
            raise RunError(f"{path} is missing: the run recorded no requests")
        return empty_frame(dtypes)
    try:
        frame = pd.read_csv(path, dtype=dtypes, usecols=lambda c: c in dtypes, engine="c")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RunError(f"{path} cannot be read ({str(exc).splitlines()[0]})") from None
    optional = RAW_OPTIONAL.get(name, ())
    missing = [c for c in dtypes if c not in frame.columns and c not in optional]
    if missing:
        raise RunError(f"{path} lacks the column(s) {', '.join(missing)}")
    for column in optional:
        if column not in frame.columns:
            frame[column] = pd.Series(np.nan, index=frame.index, dtype=dtypes[column])
    return frame


def empty_frame(dtypes: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})


def normalize_requests(frame: pd.DataFrame) -> pd.DataFrame:
    """Status as int (0 = no response), error as text, registered as nullable boolean."""
    out = frame.copy()
    out["status"] = pd.to_numeric(out["status"]).fillna(0).astype(np.int32)
    error = out["error"].astype("category")
    if error.isna().any():
        if "" not in error.cat.categories:
            error = error.cat.add_categories([""])
        error = error.fillna("")
    out["error"] = error
    out["registered"] = _as_boolean(out["registered"])
    return out


def normalize_deliveries(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["attempts"] = pd.to_numeric(out["attempts"]).fillna(1)
    out["endpoint"] = endpoint_of_work(out["work_id"])
    return out


def endpoint_of_work(work_ids: pd.Series) -> pd.Series:
    ids = work_ids.astype("string")
    endpoint = pd.Series(pd.NA, index=work_ids.index, dtype="string")
    for prefix, name in WORK_ENDPOINT_OF_PREFIX.items():
        endpoint = endpoint.mask(ids.str.startswith(f"{prefix}:").fillna(False), name)
    return endpoint.astype("category")


def _as_boolean(values: pd.Series) -> pd.Series:
    """true/false/empty text as a nullable boolean, decided once per distinct value."""
    if values.dtype == "boolean":
        return values
    categories = values.astype("category")
    names = [str(c).strip().lower() for c in categories.cat.categories]
    # Code -1 (a missing value) indexes the extra last slot: unknown.
    truth = np.array([n in ("true", "1", "yes") for n in names] + [False])
    known = np.array([n in ("true", "1", "yes", "false", "0", "no") for n in names] + [False])
    codes = categories.cat.codes.to_numpy()
    array = pd.arrays.BooleanArray(truth[codes], ~known[codes])
    return pd.Series(array, index=values.index)


def runs_frame(meta: dict[str, Any], requests: pd.DataFrame) -> pd.DataFrame:
    """One row per (scenario, variant, repeat) with t0, load_end, drained_at, drained.

    Runs missing from meta.json get their times from the requests, so a hand-made or partial
    folder can still be analysed.
    """
    rows = [
        {
            "scenario": str(r.get("scenario")),
            "variant": str(r.get("variant")),
            "repeat": int(r.get("repeat") or 0),
            "t0": _float(r.get("t0")),
            "load_end": _float(r.get("load_end")),
            "drained_at": _float(r.get("drained_at")),
            "drained": bool(r.get("drained", r.get("drained_at") is not None)),
        }
        for r in meta.get("runs") or []
        if isinstance(r, dict) and r.get("scenario") != FLOOR_SCENARIO
    ]
    declared = pd.DataFrame(
        rows,
        columns=[*RUN, "t0", "load_end", "drained_at", "drained"],
    ).astype({"scenario": "str", "variant": "str", "repeat": "int32", "drained": "bool"})
    declared = declared.astype({"t0": "float64", "load_end": "float64", "drained_at": "float64"})
    seen = (
        requests.groupby(RUN, observed=True)
        .agg(first=("intended_start", "min"), last=("end", "max"))
        .reset_index()
        .astype({"scenario": "str", "variant": "str", "repeat": "int32"})
    )
    out = seen.merge(declared, on=RUN, how="outer")
    out["t0"] = out["t0"].fillna(out["first"])
    out["load_end"] = out["load_end"].fillna(out["last"])
    out["drained"] = out["drained"].astype("boolean").fillna(False).astype(bool)
    return out.drop(columns=["first", "last"]).sort_values(RUN).reset_index(drop=True)


def windows_frame(meta: dict[str, Any]) -> pd.DataFrame:
    """Fault windows of each scenario, in seconds from each run's t0."""
    rows = []
    for scenario in meta.get("scenarios") or []:
        if not isinstance(scenario, dict):
            continue
        for event in scenario.get("timeline") or []:
            start = _float(event.get("at_s"))
            duration = _float(event.get("duration_s"))
            if np.isnan(start):
                continue
            rows.append(
                {
                    "scenario": str(scenario.get("name")),
                    "start_s": start,
                    "end_s": start + (0.0 if np.isnan(duration) else duration),
                    "label": str(event.get("label") or event.get("target") or "fault"),
                    "target": str(event.get("target") or "provider"),
                }
            )
    return pd.DataFrame(rows, columns=["scenario", "start_s", "end_s", "label", "target"]).astype(
        {"start_s": "float64", "end_s": "float64"}
    )


def _float(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")
