"""The one provider instance an app serves, and the dependency that hands it to routes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from core.settings import Settings
from provider.capture import Capture
from provider.injector import FaultInjector


@dataclass
class Provider:
    settings: Settings
    injector: FaultInjector
    capture: Capture
    wall: Callable[[], float] = field(default=time.time)

    @classmethod
    def from_settings(cls, settings: Settings) -> Provider:
        return cls(settings, FaultInjector(settings.seed), Capture(settings.seed))

    def reset(self, seed: int | None) -> int:
        seed = self.settings.seed if seed is None else seed
        self.injector.reset(seed)
        self.capture.reset(seed)
        return seed


def get_provider(request: Request) -> Provider:
    provider: Provider = request.app.state.provider
    return provider


ProviderDep = Annotated[Provider, Depends(get_provider)]
