"""The fault model: what the fake provider does wrong, as data the control API reads and writes."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    # Unknown fields are refused so a typo in a scenario's timeline fails loudly, not silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Latency(_Model):
    kind: Literal["none", "fixed", "uniform", "lognormal"] = "none"
    ms: float = Field(default=0.0, ge=0)
    min_ms: float = Field(default=0.0, ge=0)
    max_ms: float = Field(default=0.0, ge=0)
    median_ms: float = Field(default=0.0, ge=0)
    sigma: float = Field(default=0.0, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms must be at least min_ms")
        return self


class ErrorFault(_Model):
    status: int = Field(ge=400, le=599)
    probability: float = Field(ge=0, le=1)
    retry_after_s: float | None = Field(default=None, ge=0)


class RateLimit(_Model):
    per_s: float = Field(gt=0)
    burst: int = Field(default=1, ge=1)


class Faults(_Model):
    latency: Latency = Latency()
    errors: tuple[ErrorFault, ...] = ()
    rate_limit: RateLimit | None = None
    hang_probability: float = Field(default=0.0, ge=0, le=1)
    hang_max_s: float | None = Field(default=None, gt=0)
    reset_probability: float = Field(default=0.0, ge=0, le=1)
    lost_response_probability: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _one_outcome_per_request(self) -> Self:
        # Errors, hangs and resets share one draw, so together they cannot exceed certainty.
        total = self.hang_probability + self.reset_probability
        total += sum(error.probability for error in self.errors)
        if total > 1 + 1e-9:
            raise ValueError("hang, reset and error probabilities must add up to at most 1")
        return self


class TimelineEvent(_Model):
    at_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    faults: Faults = Faults()
    label: str = ""


class Timeline(_Model):
    events: tuple[TimelineEvent, ...] = Field(default=(), max_length=10_000)


class ResetRequest(_Model):
    seed: int | None = None
