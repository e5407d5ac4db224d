"""The provider's fault models the page offers, by name: the scenarios' own definitions."""

from __future__ import annotations

from typing import Any

from core.scenarios import DOWN, HEALTHY, LOST_RESPONSES, RATE_LIMITED, SLOW
from provider.faults import Faults

FAULTS: dict[str, dict[str, Any]] = {
    "healthy": HEALTHY,
    "outage": DOWN,
    "slow": SLOW,
    "rate-limit": RATE_LIMITED,
    "lost-responses": LOST_RESPONSES,
}
FAULT_NAMES = tuple(FAULTS)


def fault_name(base: dict[str, Any]) -> str:
    """The name of the provider's current fault model, as it reports it; "custom" for others."""
    given = Faults.model_validate(base)
    for name, faults in FAULTS.items():
        if Faults.model_validate(faults) == given:
            return name
    return "custom"
