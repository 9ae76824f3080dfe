"""Schedules: cron (with a time zone) or fixed-interval starts of a `name@version`.

The occurrence maths is pure: `following(moment)` is the first occurrence after a moment,
`preceding(moment)` the last one before it, and `owed(schedule, now)` the occurrences
due by `now` that have not fired yet. Each occurrence starts at most one run, because its
idempotency key is derived from the schedule id and the occurrence time.

Cron occurrences are wall-clock times in the schedule's time zone. When the clocks go
forward, a time that does not exist that day fires at the first moment after the gap;
when they go back, a schedule that names its hours (`30 2 * * *`) fires once in the
repeated hour, while one that runs every hour (`0 * * * *`) fires in both.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

Overlap = Literal["skip", "allow", "cancel_previous"]
OVERLAPS: tuple[Overlap, ...] = ("skip", "allow", "cancel_previous")
SCHEDULE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# How many missed occurrences an `allow` schedule catches up on at most, the latest ones.
MAX_CATCH_UP = 100


def check_cron(expression: str) -> str:
    """`expression` when it is a cron expression that ever fires; ValueError otherwise."""
    # croniter and its dateutil cost ~15 ms at import: each use of a cron expression imports
    # it, so a process that meets no cron schedule never does.
    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(expression):
        raise ValueError(
            f"{expression!r} is not a cron expression: use five fields "
            "'minute hour day month weekday', like '0 9 * * *'"
        )
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"cron expression {expression!r} never fires (no such date)") from None
    return expression


def check_timezone(name: str) -> str:
    """`name` when it is an IANA time zone; ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone like 'Europe/Paris' or 'UTC'") from None
    return name


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    format: int = 1
    id: str = Field(pattern=SCHEDULE_ID)
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
    last_run_id: str | None = None  # the run the schedule started last, for `skip`

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule has either a cron expression or an interval")
        if self.cron is not None:
            check_cron(self.cron)
        check_timezone(self.timezone)
        return self

    @property
    def ref(self) -> str:
        return f"{self.workflow}@{self.version}"

    def following(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (UTC-aware in, UTC out)."""
        if self.every is not None:
            step = timedelta(seconds=self.every)
            elapsed = max(0, (moment - self.created_at) // step + 1)
            return self.created_at + elapsed * step
        return self._cron_step(moment, forward=True)

    def preceding(self, moment: datetime) -> datetime:
        """The last occurrence strictly before `moment` (UTC-aware in, UTC out)."""
        if self.every is not None:
            step = timedelta(seconds=self.every)
            whole, rest = divmod(moment - self.created_at, step)
            return self.created_at + (whole if rest else whole - 1) * step
        return self._cron_step(moment, forward=False)

    def _cron_step(self, moment: datetime, *, forward: bool) -> datetime:
        from croniter import croniter

        assert self.cron is not None
        zone = ZoneInfo(self.timezone)
        times = croniter(self.cron, moment.astimezone(zone))
        while True:
            found: datetime = times.get_next(datetime) if forward else times.get_prev(datetime)
            if not self._repeated_hour(found.astimezone(zone)):
                return found.astimezone(UTC)

    def _repeated_hour(self, local: datetime) -> bool:
        """Whether `local` is the second pass of a wall time the clocks went back over,
        for a schedule that names its hours (so it fires there once, not twice)."""
        if local.fold == 0 or local.replace(fold=0).utcoffset() == local.utcoffset():
            return False
        from croniter import croniter

        assert self.cron is not None
        return bool(croniter(self.cron).expanded[1] != ["*"])

    def idempotency_key(self, occurrence: datetime) -> str:
        return f"schedule:{self.id}:{occurrence.astimezone(UTC).isoformat()}"


def owed(schedule: Schedule, now: datetime, limit: int = MAX_CATCH_UP) -> list[datetime]:
    """The occurrences due by `now` that have not fired: from `next_due` to `now`, both
    included, oldest first; only the latest `limit` of them when more are owed."""
    if schedule.next_due > now or limit < 1:
        return []
    found: list[datetime] = []
    occurrence = schedule.preceding(schedule.following(now))  # the last one at or before now
    while occurrence > schedule.next_due and len(found) < limit:
        found.append(occurrence)
        occurrence = schedule.preceding(occurrence)
    if len(found) < limit:
        found.append(schedule.next_due)
    return found[::-1]
