"""A client's schedules: adding one, reading them, pausing, resuming and removing one."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any

from ..authoring.workflow import WorkflowVersion
from ..errors import ScheduleNotFound
from ..model.schedule import Overlap, Schedule, choose_id, new_schedule, reuse, schedule_rule
from ..store import Store
from ..values.clock import Clock


class ScheduleCalls:
    """The schedule calls of `Client`."""

    store: Store
    clock: Clock

    async def add_schedule(
        self,
        version: WorkflowVersion,
        input: Any = None,
        *,
        cron: str | None = None,
        timezone: str | None = None,
        every: float | str | timedelta | None = None,
        overlap: Overlap | str = Overlap.SKIP,
        schedule_id: str | None = None,
    ) -> Schedule:
        """Add a schedule that starts runs of `version` on a `cron` expression (in
        `timezone`, UTC by default) or `every` interval; without `schedule_id`, its id is
        the workflow's name and a random suffix. Everything is checked before anything is
        written. Adding the same schedule again returns the stored one (and sets its timer
        again, should an earlier add have died first); `BadInput` when the id is taken."""
        rule = schedule_rule(cron, timezone, every)
        chosen = choose_id(schedule_id, version.name)
        data = version.inputs.encode(input)
        schedule = new_schedule(
            version.name,
            version.version,
            data,
            self.clock.now(),
            schedule_id=chosen,
            rule=rule,
            overlap=overlap,
        )
        schedule = reuse(self.store.schedule(schedule.id), schedule)
        self.store.save_schedule(schedule)
        return schedule

    async def schedules(self) -> builtins.list[Schedule]:
        """Every schedule in the store."""
        return self.store.schedules()

    async def get_schedule(self, schedule_id: str) -> Schedule:
        """The schedule; `ScheduleNotFound` when the store has none by that id."""
        found = self.store.schedule(schedule_id)
        if found is None:
            raise ScheduleNotFound(schedule_id, self.store.location)
        return found

    async def pause_schedule(self, schedule_id: str) -> Schedule:
        """Stop the schedule from starting runs until it is resumed; it as it is now."""
        schedule = await self.get_schedule(schedule_id)
        if schedule.paused:
            return schedule
        paused = schedule.model_copy(update={"paused": True})
        self.store.save_schedule(paused)
        return paused

    async def resume_schedule(self, schedule_id: str) -> Schedule:
        """Resume a paused schedule from its next occurrence (missed ones are not caught
        up); it as it is now."""
        schedule = await self.get_schedule(schedule_id)
        if not schedule.paused:
            return schedule
        due = schedule.following(self.clock.now())
        resumed = schedule.model_copy(update={"paused": False, "next_due": due})
        self.store.save_schedule(resumed)
        return resumed

    async def remove_schedule(self, schedule_id: str) -> Schedule:
        """Remove the schedule (the runs it started are kept); it as it was."""
        schedule = await self.get_schedule(schedule_id)
        self.store.remove_schedule(schedule.id)
        return schedule
