"""Can an attacker tell registered from unknown addresses by timing POST /login?"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from analysis.stats import auc


def verdict(auc_value: float, tolerance: float) -> str:
    if np.isnan(auc_value):
        return "not measured"
    gap = abs(auc_value - 0.5)
    if gap < tolerance:
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
        rows.append(
            {
                "scenario": str(s),
                "variant": str(v),
                "auc": value,
                "gap": abs(value - 0.5),
                "registered": len(yes),
                "unknown": len(no),
                "registered_p50_ms": float(np.median(yes)) if len(yes) else np.nan,
                "unknown_p50_ms": float(np.median(no)) if len(no) else np.nan,
                "verdict": verdict(value, tolerance),
            }
        )
    columns = ["scenario", "variant", "auc", "gap", "registered", "unknown"]
    return pd.DataFrame(rows, columns=[*columns, "registered_p50_ms", "unknown_p50_ms", "verdict"])
