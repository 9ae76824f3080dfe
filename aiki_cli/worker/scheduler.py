"""Firing schedules: starting the runs a schedule owes, under its overlap policy.

Which runs to start is decided by `plan`, a pure function of the schedule, the time and
whether the schedule's previous run is still active; `fire` joins it to the client. Every
run is started with the occurrence's idempotency key, so a worker that restarts halfway,
or two workers firing the same occurrence, start one run for it, never two.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from ..authoring.workflow import WorkflowVersion
from ..errors import AikiError, IllegalTransition
from ..model.schedule import MAX_CATCH_UP, Overlap, Schedule, owed
from ..store import Store

if TYPE_CHECKING:
    from ..client import Client

log = logging.getLogger("aiki.scheduler")


class Firing(NamedTuple):
    """What firing a schedule does."""

    starts: list[datetime]  # the occurrences to start a run for, oldest first
    cancel_previous: bool  # cancel the schedule's previous run before starting
    next_due: datetime


def plan(schedule: Schedule, now: datetime, previous_active: bool) -> Firing:
    """What `schedule` does at `now` under its overlap policy.

    `allow` starts every owed occurrence (the latest `MAX_CATCH_UP` of them); `skip`
    starts only the latest, and only if the previous run is no longer active;
    `cancel_previous` cancels the previous run if it is active, then starts the latest.
    """
    if schedule.paused or schedule.next_due > now:
        return Firing([], False, schedule.next_due)
    next_due = schedule.following(now)
    if schedule.overlap == Overlap.ALLOW:
        return Firing(owed(schedule, now), False, next_due)
    if schedule.overlap == Overlap.SKIP and previous_active:
        return Firing([], False, next_due)
    cancel = schedule.overlap == Overlap.CANCEL_PREVIOUS and previous_active
    return Firing(owed(schedule, now, limit=1), cancel, next_due)


async def fire(
    client: Client, schedule: Schedule, registry: Mapping[str, WorkflowVersion]
) -> Schedule:
    """Start the runs `schedule` owes at the client's now; store it with its next due time.

    A paused schedule, or one not due yet, is returned as it is. An `allow` schedule that
    missed more than `MAX_CATCH_UP` occurrences (its workers were down) catches up on the
    latest ones only. An occurrence whose run cannot be started (its input no longer fits
    the workflow's model, say) is logged and passed over.
    """
    now = client.clock.now()
    version = registry.get(schedule.ref)
    if version is None or schedule.paused or schedule.next_due > now:
        return schedule
    firing = plan(schedule, now, await _active(client, schedule.last_run_id))
    _warn_if_capped(schedule, firing)
    if firing.cancel_previous and schedule.last_run_id is not None:
        await _cancel(client, schedule.last_run_id)
    last_run_id = schedule.last_run_id
    for occurrence in firing.starts:
        last_run_id = _start(client, schedule, version, occurrence) or last_run_id
    return _save(client.store, schedule, firing.next_due, last_run_id)


async def _active(client: Client, run_id: str | None) -> bool:
    """Whether the run has not ended yet (a run that cannot be read counts as ended)."""
    if run_id is None:
        return False
    try:
        return not (await client.get(run_id)).status.terminal
    except (LookupError, AikiError) as error:
        log.warning("previous run %s of a schedule cannot be read: %s", run_id, error)
        return False


async def _cancel(client: Client, run_id: str) -> None:
    with contextlib.suppress(IllegalTransition, LookupError):  # it ended since, or went away
        await client.cancel(run_id)


def _start(
    client: Client, schedule: Schedule, version: WorkflowVersion, occurrence: datetime
) -> str | None:
    """Start the occurrence's run (or find the one it started); its id, or None."""
    try:
        spec = client.create(version, schedule.input, schedule.idempotency_key(occurrence))
    except AikiError as error:
        log.error("schedule %s: cannot start %s: %s", schedule.id, schedule.ref, error)
        return None
    log.info("schedule %s: run %s for %s", schedule.id, spec.id, occurrence.isoformat())
    return spec.id


def _save(store: Store, fired: Schedule, next_due: datetime, last_run_id: str | None) -> Schedule:
    """Store the fired schedule's next due time and last run, keeping whatever a command
    changed while it fired (a pause, or its removal)."""
    current = store.schedule(fired.id)
    if current is None:
        return fired.model_copy(update={"next_due": next_due, "last_run_id": last_run_id})
    updated = current.model_copy(update={"next_due": next_due, "last_run_id": last_run_id})
    store.save_schedule(updated)
    return updated


def _warn_if_capped(schedule: Schedule, firing: Firing) -> None:
    if len(firing.starts) == MAX_CATCH_UP and firing.starts[0] > schedule.next_due:
        log.warning(
            "schedule %s missed more than %d occurrences since %s; starting the latest %d",
            schedule.id,
            MAX_CATCH_UP,
            schedule.next_due.isoformat(),
            MAX_CATCH_UP,
        )
