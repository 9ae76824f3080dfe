"""Schedules: cron (with a time zone) or fixed-interval starts of a `name@version`.

The occurrence maths is pure: `following(moment)` is the first occurrence after a moment.
Each occurrence starts at most one run, because its idempotency key is derived from the
schedule id and the occurrence time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, model_validator

Overlap = Literal["skip", "allow", "cancel_previous"]


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: int = 1
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    workflow: str
    version: str
    cron: str | None = None
    timezone: str = "UTC"
    every: float | None = Field(default=None, gt=0)
    input: Any = None
    overlap: Overlap = "skip"
    paused: bool = False
    created_at: datetime
    next_due: datetime

    @model_validator(mode="after")
    def _one_rule(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule has either a cron expression or an interval")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"{self.cron!r} is not a cron expression like '0 9 * * *'")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{self.timezone!r} is not a time zone like 'Europe/Paris'") from None
        return self

    @property
    def ref(self) -> str:
        return f"{self.workflow}@{self.version}"

    def following(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (UTC-aware in, UTC-aware out)."""
        if self.every is not None:
            step = timedelta(seconds=self.every)
            elapsed = max(0, (moment - self.created_at) // step + 1)
            return self.created_at + elapsed * step
        assert self.cron is not None
        local = moment.astimezone(ZoneInfo(self.timezone))
        following: datetime = croniter(self.cron, local).get_next(datetime)
        return following.astimezone(moment.tzinfo)

    def idempotency_key(self, occurrence: datetime) -> str:
        return f"schedule:{self.id}:{occurrence.isoformat()}"
