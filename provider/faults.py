"""The fault model: what the fake provider does wrong, as data the control API reads and writes."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    # Unknown fields are refused so a typo in a scenario's timeline fails loudly, not silently.
    # NaN and infinities are refused too: no fault can be infinite, and they cannot be echoed.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


MAX_MS = 600_000.0  # ten minutes: longer waits would outlive any client
MAX_S = MAX_MS / 1000


class Latency(_Model):
    kind: Literal["none", "fixed", "uniform", "lognormal"] = "none"
    ms: float = Field(default=0.0, ge=0, le=MAX_MS)
    min_ms: float = Field(default=0.0, ge=0, le=MAX_MS)
    max_ms: float = Field(default=0.0, ge=0, le=MAX_MS)
    median_ms: float = Field(default=0.0, ge=0, le=MAX_MS)
    sigma: float = Field(default=0.0, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms must be at least min_ms")
        return self


class ErrorFault(_Model):
    status: int = Field(ge=400, le=599)
    probability: float = Field(ge=0, le=1)
    retry_after_s: float | None = Field(default=None, ge=0, le=MAX_S)


class RateLimit(_Model):
    per_s: float = Field(ge=0.001, le=1_000_000)
    burst: int = Field(default=1, ge=1, le=1_000_000)


class Faults(_Model):
    latency: Latency = Latency()
    errors: tuple[ErrorFault, ...] = ()
    rate_limit: RateLimit | None = None
    hang_probability: float = Field(default=0.0, ge=0, le=1)
    hang_max_s: float | None = Field(default=None, gt=0, le=MAX_S)
    reset_probability: float = Field(default=0.0, ge=0, le=1)
    lost_response_probability: float = Field(default=0.0, ge=0, le=1)
    # On: a retried Idempotency-Key is one email, as with providers that honour the header.
    # Off: every accepted request is an email, as with SendGrid, whose v3 mail send documents
    # no such header. On by default so that scenarios written before this switch keep meaning.
    idempotency: bool = True

    @model_validator(mode="after")
    def _one_outcome_per_request(self) -> Self:
        # Errors, hangs and resets share one draw, so together they cannot exceed certainty.
        total = self.hang_probability + self.reset_probability
        total += sum(error.probability for error in self.errors)
        if total > 1 + 1e-9:
            raise ValueError("hang, reset and error probabilities must add up to at most 1")
        return self


class TimelineEvent(_Model):
    at_s: float = Field(ge=0, le=86_400)
    duration_s: float = Field(gt=0, le=86_400)
    faults: Faults = Faults()
    label: str = Field(default="", max_length=200)

    @field_validator("label")
    @classmethod
    def _utf8(cls, value: str) -> str:
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("label must be text (no lone surrogates)") from None
        return value


class Timeline(_Model):
    events: tuple[TimelineEvent, ...] = Field(default=(), max_length=10_000)


class ResetRequest(_Model):
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
