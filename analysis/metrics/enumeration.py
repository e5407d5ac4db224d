"""Can an attacker tell registered from unknown addresses by timing POST /login?"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from analysis.metrics.stats import auc

# |z| above this is a difference chance gives less than 3 times in 1,000 (two-sided).
SIGNIFICANT_Z = 3.0


def z_score(auc_value: float, n_yes: int, n_no: int) -> float:
    """How far the AUC is from 0.5 in standard errors of a no-difference world (Mann-Whitney)."""
    if not n_yes or not n_no or np.isnan(auc_value):
        return float("nan")
    null_se = float(np.sqrt((n_yes + n_no + 1) / (12 * n_yes * n_no)))
    return (auc_value - 0.5) / null_se


def verdict(auc_value: float, tolerance: float, z: float = float("inf")) -> str:
    """A gap counts only when it is both large and more than chance would give."""
    if np.isnan(auc_value):
        return "not measured"
    gap = abs(auc_value - 0.5)
    if gap < tolerance or abs(z) < SIGNIFICANT_Z:
        return "indistinguishable"
    if gap < 2 * tolerance:
        return "weakly distinguishable"
    return "distinguishable"


def enumeration_table(requests: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """AUC of registered vs unknown login latency per scenario and variant (0.5 = no signal).

    Every answered login counts, errors included: an attacker sees those too.
    """
    logins = requests[
        (requests["endpoint"].astype("str") == "login")
        & (requests["status"] != 0)
        & requests["registered"].notna()
    ]
    latency = (logins["end"] - logins["start"]).to_numpy() * 1000.0
    registered = logins["registered"].eq(True).fillna(False).to_numpy(dtype=bool)
    groups = logins.groupby(["scenario", "variant"], observed=True).indices
    rows = []
    for key, positions in sorted(groups.items(), key=str):
        s, v = cast(tuple[str, str], key)
        mine, mask = latency[positions], registered[positions]
        yes, no = mine[mask], mine[~mask]
        value = auc(yes, no)
        z = z_score(value, len(yes), len(no))
        rows.append(
            {
                "scenario": str(s),
                "variant": str(v),
                "auc": value,
                "gap": abs(value - 0.5),
                "z": z,
                "registered": len(yes),
                "unknown": len(no),
                "registered_p50_ms": float(np.median(yes)) if len(yes) else np.nan,
                "unknown_p50_ms": float(np.median(no)) if len(no) else np.nan,
                "verdict": verdict(value, tolerance, z),
            }
        )
    columns = ["scenario", "variant", "auc", "gap", "z", "registered", "unknown"]
    return pd.DataFrame(rows, columns=[*columns, "registered_p50_ms", "unknown_p50_ms", "verdict"])
