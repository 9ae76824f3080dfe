"""A worker's timers: queueing the parked runs whose due time has come, firing the
schedules that are due, giving an active schedule that lost its timer one again, and
bringing back what a wall clock set back had armed while it was ahead."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ..authoring.workflow import WorkflowVersion
from ..client import Client
from ..errors import StoreUnreachable, StoreUnwritable
from ..values.clock import JumpWatch
from .scheduler import fire

log = logging.getLogger("aiki.worker")

# How often a worker makes sure every active schedule has a timer (see `rearm_schedules`).
_SCHEDULE_RECHECK = 30.0


class Timers:
    """The timers of `client`'s store, as a worker loading `registry` tends them."""

    def __init__(self, client: Client, registry: Mapping[str, WorkflowVersion]) -> None:
        self.client = client
        self.store = client.store
        self.registry = registry
        self._rearm_at = 0.0
        self._clock_watch = JumpWatch(client.clock)

    async def tend(self, *, schedules: bool) -> None:
        """One pass: re-arm lost schedules (with `schedules`), re-arm after the wall clock
        was set back, then fire what is due."""
        if schedules:
            self.rearm_schedules()
        if self._clock_watch.set_back():
            self.rearm()
        await self.fire()

    async def tend_unless_lost(self, *, schedules: bool) -> str | None:
        """`tend`; what kept it from writing (a full disk), if anything. A database that
        cannot be reached is raised (`StoreUnreachable`): the worker waits for it."""
        try:
            await self.tend(schedules=schedules)
        except StoreUnreachable:
            raise
        except StoreUnwritable as error:
            return f"cannot fire timers: {error}"
        return None

    async def fire(self) -> int:
        """Queue the runs whose due time has come and fire due schedules; how many.

        The timer of a run still queued stays: its worker may be parking it (the timer
        set, the run about to leave the queue, then queued again if the time came
        meanwhile). Killed in between, that worker leaves the timer as the run's only way
        back. Whoever executes the run next clears the timer, or sets it anew."""
        timers = self.store.due_timers(self.client.clock.now())
        for timer in timers:
            if timer.kind == "run":
                if self.store.is_ready(timer.target):
                    continue  # queued: its timer stays (see above)
                with contextlib.suppress(LookupError):
                    self.store.mark_ready(timer.target)
            else:
                schedule = self.store.schedule(timer.target)
                if schedule is not None and schedule.ref in self.registry:
                    await fire(self.client, schedule, self.registry)
                elif schedule is not None:
                    continue  # another worker, which loads the version, fires it
            self.store.clear_timer(timer)
        return len(timers)

    def rearm_schedules(self) -> None:
        """Now and then, give an active schedule that lost its timer (a command or a worker
        killed while saving it, a disk that was full) a timer again, so it keeps firing."""
        if time.monotonic() < self._rearm_at:
            return
        for schedule_id in self.store.rearm_schedules():
            log.warning("schedule %s had no timer; set it again", schedule_id)
        self._rearm_at = time.monotonic() + _SCHEDULE_RECHECK

    def rearm(self) -> None:
        """After the wall clock was set back: bring back what it armed while it was ahead.

        A schedule due later than its next occurrence from now is due at that occurrence
        (the runs of the occurrences fired meanwhile have their own keys: none runs twice).
        A run with a timer still to come is queued: its code, replayed, begins again any
        wait that began at a time still to come, and arms its timer anew."""
        now = self.client.clock.now()
        log.warning("the wall clock was set back; re-arming timers and schedules")
        for schedule in self.store.schedules():
            following = schedule.following(now)
            if not schedule.paused and schedule.next_due > following:
                self.store.save_schedule(schedule.model_copy(update={"next_due": following}))
        for timer in self.store.due_timers(datetime.max.replace(tzinfo=UTC)):
            if timer.kind == "run" and timer.due > now:
                with contextlib.suppress(LookupError):
                    self.store.mark_ready(timer.target)

    def wake_within(self, seconds: float | None) -> bool:
        """Whether a parked run is due to wake within `seconds` (schedules do not count:
        they would keep a worker from ever being idle; nor does the timer of a run already
        queued, which `fire` leaves in place and this worker may not execute)."""
        if seconds is None:
            return False
        horizon = self.client.clock.now() + timedelta(seconds=seconds)
        return any(
            timer.kind == "run" and not self.store.is_ready(timer.target)
            for timer in self.store.due_timers(horizon)
        )
