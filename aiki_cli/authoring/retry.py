"""Retry policies for tasks and workflows: never, fixed, exponential, jittered (SPEC §3).

`max_attempts` counts every attempt, the first included. Delays are pure functions of
the attempt number (and, for jitter, of a random fraction passed in), so they are tested
without clocks or randomness.
"""

from collections.abc import Callable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import InputInvalid

Strategy = Literal["never", "fixed", "exponential", "jittered"]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    strategy: Strategy = "never"
    max_attempts: int = Field(default=1, ge=1, le=1000)
    delay: float = Field(default=0.0, ge=0)
    base_delay: float = Field(default=1.0, ge=0)
    factor: float = Field(default=2.0, ge=1)
    max_delay: float = Field(default=3600.0, ge=0)

    @model_validator(mode="after")
    def _never_retries(self) -> Self:
        if self.strategy == "never" and self.max_attempts != 1:
            raise ValueError("the 'never' strategy makes exactly one attempt")
        return self

    def delay_for(
        self, error: BaseException, attempt: int, draw: Callable[[], float]
    ) -> float | None:
        """`delay_after` the attempt that raised `error` (`draw()` gives the jitter's
        fraction); None for invalid input, which would fail the same way again."""
        if isinstance(error, InputInvalid):
            return None
        return self.delay_after(attempt, draw())

    def delay_after(self, attempt: int, fraction: float = 1.0) -> float | None:
        """Seconds to wait before the attempt after `attempt` (1-based), or None when
        `attempt` was the last. `fraction` in [0, 1) is the jitter's random draw."""
        if attempt >= self.max_attempts:
            return None
        if self.strategy == "fixed":
            return self.delay
        backoff = min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))
        return backoff * fraction if self.strategy == "jittered" else backoff


def never() -> RetryPolicy:
    """One attempt; a failure is final (the default)."""
    return _NEVER


# Built without validation, its fields being the defaults: workflows that only use the
# default never compile the policy's validator (a cost paid at every worker's start).
_NEVER = RetryPolicy.model_construct()


def fixed(max_attempts: int, delay: float = 1.0) -> RetryPolicy:
    """Up to `max_attempts` attempts, `delay` seconds apart."""
    return RetryPolicy(strategy="fixed", max_attempts=max_attempts, delay=delay)


def exponential(
    max_attempts: int, base_delay: float = 1.0, factor: float = 2.0, max_delay: float = 3600.0
) -> RetryPolicy:
    """Delays of base_delay, base_delay·factor, base_delay·factor², … capped at max_delay."""
    return RetryPolicy(
        strategy="exponential",
        max_attempts=max_attempts,
        base_delay=base_delay,
        factor=factor,
        max_delay=max_delay,
    )


def jittered(
    max_attempts: int, base_delay: float = 1.0, factor: float = 2.0, max_delay: float = 3600.0
) -> RetryPolicy:
    """Exponential delays with full jitter: a random share of each, from 0 to all of it."""
    policy = exponential(max_attempts, base_delay, factor, max_delay)
    return policy.model_copy(update={"strategy": "jittered"})
