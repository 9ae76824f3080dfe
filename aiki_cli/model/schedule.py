"""Schedules: cron (with a time zone) or fixed-interval starts of a `name@version`.

The occurrence maths is pure: `following(moment)` is the first occurrence after a moment,
`preceding(moment)` the last one before it, and `owed(schedule, now)` the occurrences
due by `now` that have not fired yet. Each occurrence starts at most one run, because its
idempotency key is derived from the schedule id and the occurrence time.

Cron occurrences are wall-clock times in the schedule's time zone. When the clocks go
forward, a time that does not exist that day fires at the first moment after the gap;
when they go back, a schedule that names its hours (`30 2 * * *`) fires once in the
repeated hour, while one that runs every hour (`0 * * * *`) fires in both.

`new_schedule` builds one from what a person gives (a rule, an id or none), checked
before anything is written.
"""

import re
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import BadInput
from ..values.codec import validation_problems
from ..values.duration import parse_duration

SCHEDULE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# How many missed occurrences an `allow` schedule catches up on at most, the latest ones.
MAX_CATCH_UP = 100
# Shorter intervals would start runs faster than a worker polls for them.
MIN_EVERY = 1.0


class Overlap(StrEnum):
    """What a schedule does when an occurrence comes while its previous run is active."""

    SKIP = "skip"
    ALLOW = "allow"
    CANCEL_PREVIOUS = "cancel_previous"


def check_cron(expression: str) -> str:
    """`expression` when it is a cron expression that ever fires; ValueError otherwise."""
    # croniter and its dateutil are slow to import: each use of a cron expression imports
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
    overlap: Overlap = Overlap.SKIP
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


def new_schedule(
    workflow: str,
    version: str,
    input: Any,
    now: datetime,
    *,
    schedule_id: str,
    rule: dict[str, Any],
    overlap: Overlap | str,
) -> Schedule:
    """A schedule created at `now`, first due at its first occurrence after it; `BadInput`
    when a field is invalid."""
    fields = {"workflow": workflow, "version": version, "input": input, "overlap": overlap}
    try:
        schedule = Schedule(id=schedule_id, created_at=now, next_due=now, **fields, **rule)
    except ValidationError as error:
        raise BadInput(f"the schedule is invalid: {validation_problems(error)}") from None
    return schedule.model_copy(update={"next_due": schedule.following(now)})


def schedule_rule(
    cron: str | None, timezone: str | None, every: float | str | timedelta | None
) -> dict[str, Any]:
    """The schedule's fields for its rule: a cron expression and zone, or an interval."""
    if (cron is None) == (every is None):
        raise BadInput("give exactly one of --cron EXPR or --every DURATION")
    try:
        if cron is not None:
            return {"cron": check_cron(cron), "timezone": check_timezone(timezone or "UTC")}
        if timezone is not None:
            raise ValueError("--tz applies to --cron schedules; an --every interval has no zone")
        seconds = parse_duration(every or "", "--every").total_seconds()
    except ValueError as error:
        raise BadInput(str(error)) from None
    if seconds < MIN_EVERY:
        raise BadInput(f"--every must be at least {MIN_EVERY:g}s, not {every!r}")
    return {"every": seconds}


def choose_id(chosen: str | None, workflow: str) -> str:
    """The id given (checked), or the workflow's name and a random suffix."""
    if chosen is None:
        return f"{workflow[:56]}-{secrets.token_hex(3)}"
    if not re.fullmatch(SCHEDULE_ID, chosen):
        raise BadInput(
            f"schedule id {chosen[:70]!r} must start with a letter or digit and have at most "
            "64 letters, digits, '.', '_' and '-'"
        )
    return chosen


# The fields that make two schedules the same schedule.
DEFINITION = ("workflow", "version", "cron", "timezone", "every", "input", "overlap")


def reuse(existing: Schedule | None, schedule: Schedule) -> Schedule:
    """The schedule to store for an add of `schedule`: the one `existing` under its id when
    it is the same (the add is repeated), else `schedule`; `BadInput` when it differs."""
    if existing is None:
        return schedule
    if any(getattr(existing, name) != getattr(schedule, name) for name in DEFINITION):
        raise BadInput(
            f"schedule {schedule.id!r} already exists; pick another --id or "
            f"`aiki schedule remove {schedule.id}` first"
        )
    return existing
