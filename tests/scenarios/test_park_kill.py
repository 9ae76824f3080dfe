"""A worker killed while parking a run whose timer another worker fired meanwhile.

Parking sets the run's timer, then takes the run out of the queue, then queues it again
if the timer came due meanwhile (another worker may have fired it while the run was still
queued, and cleared it). A worker killed between the last two steps left the run
sleeping, out of the queue and without a timer: nothing would ever wake it. The timer
is the run's way back, so a worker firing it leaves it in place while the run is
queued; whoever executes the run next clears it (or sets it anew).

The steps are ordered by a claim that fires the timer from "another worker" right after
it is set and "dies" right after the run leaves the queue, over every store. Since a
queued run's timer now stays until the run executes, a worker that dies after setting
the run `running`, before clearing its timer, must not leave that timer behind either.

And a worker executes only a run still queued once it holds it: a run listed as queued
and parked by another worker before this one claimed it is out of the queue, so a kill
while this worker executes it would leave it running (or parked without its timer)
where no worker looks (the strand a PostgreSQL soak met: a run left `sleeping`, out of
the queue, no timer, after a worker claimed it from a stale listing and died parking it).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from aiki_cli import Client, Run, RunStatus, Worker
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.engine.execution import Engine
from aiki_cli.model.entry import Entry, StatusChanged
from aiki_cli.model.journal import summarize
from aiki_cli.store import Claim, Store
from aiki_cli.testing import ManualClock
from aiki_cli.worker.timers import Timers


class Killed(BaseException):
    """The worker's process dies here: nothing after it runs."""


class FiredThenKilled:
    """A claim of the run being parked: once its timer is set, `fire()` (another worker's
    pass over the timers, the run still queued); once it has left the queue, death."""

    def __init__(self, claim: Claim, fire: Callable[[], None]) -> None:
        self._claim, self._fire = claim, fire

    def __getattr__(self, name: str) -> Any:
        return getattr(self._claim, name)

    def set_timer(self, due: Any) -> None:
        self._claim.set_timer(due)
        if due is not None:
            self._fire()

    def leave_queue(self) -> None:
        self._claim.leave_queue()
        raise Killed()


async def _nap(input: Any, run: Run) -> str:
    await run.sleep("nap", "1m")
    return "rested"


def test_a_worker_killed_parking_a_run_whose_timer_was_fired_leaves_it_wakeable(
    store: Store,
) -> None:
    clock = ManualClock()
    client = Client(store, clock=clock)
    version = WorkflowVersion("napper", "1.0.0", _nap)
    registry = {version.ref: version}
    run_id = client.create(version, None).id
    timers = Timers(client, registry)

    def fire() -> None:  # another worker's pass, once the nap is over
        clock.advance("1h")
        other = threading.Thread(target=lambda: asyncio.run(timers.fire()))
        other.start()
        other.join()

    claim = store.claim(run_id)
    assert claim is not None
    engine = Engine(registry, store, clock=clock, worker_id="dying")
    try:
        with pytest.raises(Killed):
            asyncio.run(engine.execute(FiredThenKilled(claim, fire)))  # type: ignore[arg-type]
    finally:
        claim.release()  # its process is gone, and its lock with it
    assert client.store.read_summary(run_id).status == RunStatus.SLEEPING
    assert run_id not in store.ready_runs()  # the worker died before queueing it again

    asyncio.run(Worker(client, [version], poll_interval=0.01).run(until_idle=True))

    info = client.store.read_summary(run_id)
    assert (info.status, info.result) == (RunStatus.COMPLETED, "rested")


async def _quick(input: Any, run: Run) -> str:
    return "done"


def _due_while_queued(client: Client, version: WorkflowVersion, *entries: Entry) -> str:
    """A new run, still queued, whose timer a worker set due now, then journaled
    `entries`, before it let the run go; its id."""
    store, now = client.store, client.clock.now()
    run_id = client.create(version, None).id
    claim = store.claim(run_id)
    assert claim is not None
    try:
        claim.set_timer(now)
        if entries:
            claim.append(*entries)
    finally:
        claim.release()
    return run_id


@pytest.mark.parametrize(("limit", "end"), [(10, RunStatus.COMPLETED), (0, RunStatus.FAILED)])
def test_a_run_taken_over_from_a_worker_killed_before_it_cleared_the_timer_keeps_none(
    store: Store, limit: int, end: RunStatus
) -> None:
    """Taken over, the run completes, or fails by the recovery limit (`limit` 0)."""
    clock = ManualClock()
    client = Client(store, clock=clock)
    version = WorkflowVersion("quick", "1.0.0", _quick)
    # The dying worker's steps: `running` journaled, the old timer not yet cleared.
    running = StatusChanged(
        at=clock.now(), old=RunStatus.PENDING, new=RunStatus.RUNNING, worker="w"
    )
    run_id = _due_while_queued(client, version, running)

    taken = store.claim(run_id)  # the worker taking it over
    assert taken is not None
    registry = {version.ref: version}
    engine = Engine(registry, store, clock=clock, worker_id="next", max_recoveries=limit)
    try:
        assert asyncio.run(engine.execute(taken)) == end
    finally:
        taken.release()

    assert client.store.read_summary(run_id).recoveries == 1
    assert run_id not in store.ready_runs()
    assert store.due_timers(clock.now()) == []  # none left to queue the ended run again


def test_a_worker_does_not_execute_a_run_parked_since_it_listed_the_queue(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    client = Client(store, clock=clock)
    version = WorkflowVersion("napper", "1.0.0", _nap)
    run_id = client.create(version, None).id
    listing = store.ready_runs()  # a worker lists the queue; another executes the run
    asyncio.run(Worker(client, [version], poll_interval=0.01).run(until_idle=True))
    parked = store.read_run(run_id)[1]
    assert (store.ready_runs(), summarize(store.read_run(run_id)[0], parked).status) == (
        [],
        RunStatus.SLEEPING,
    )
    lists = iter([listing])
    real = store.ready_runs
    monkeypatch.setattr(store, "ready_runs", lambda: next(lists, None) or real())

    asyncio.run(Worker(client, [version], poll_interval=0.01).run(until_idle=True))

    assert store.read_run(run_id)[1] == parked  # not executed: not even woken early


def test_a_queued_run_s_due_timer_keeps_no_worker_from_idling(store: Store) -> None:
    """The timer of a queued run stays (above), but the run is in the queue: a worker that
    does not load its workflow has nothing to wait for, even with `include_sleeping`."""
    clock = ManualClock()
    client = Client(store, clock=clock)
    run_id = _due_while_queued(client, WorkflowVersion("other", "1.0.0", _quick))
    mine = WorkflowVersion("mine", "1.0.0", _quick)
    worker = Worker(client, [mine], poll_interval=0.01)

    async def serve() -> None:  # a hang guard, not a timing check: it returns at once
        await asyncio.wait_for(worker.run(until_idle=True, include_sleeping=60), 30)

    asyncio.run(serve())
    assert run_id in store.ready_runs() and store.due_timers(clock.now()) != []
