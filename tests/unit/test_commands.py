"""Changing runs from outside (SPEC §3): cancel, pause, resume, wake, retry in place and
send, over the memory store with a fixed clock.

A run no worker holds changes at once; a run a worker executes gets a request that the
engine acts on at its next task boundary. Counters prove which task bodies ran.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, RunInfo, RunStatus, Task, Worker, task
from aiki_cli.authoring.workflow import WorkflowFn, WorkflowVersion
from aiki_cli.engine.transitions import transition
from aiki_cli.errors import ChildCancelled, IllegalTransition
from aiki_cli.model.entry import EventReceived, StatusChanged
from aiki_cli.model.journal import summarize
from aiki_cli.testing import ManualClock

S = RunStatus


class Kit:
    """A client over a memory store, counted tasks, and a worker that drains the queue."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.store = MemoryStore()
        self.client = Client(self.store, clock=clock)
        self.counts: Counter[str] = Counter()

    def task(self, name: str, body: Callable[[Any], Awaitable[Any]] | None = None) -> Task:
        async def run(value: Any) -> Any:
            self.counts[name] += 1
            return await body(value) if body is not None else {"task": name, "input": value}

        return task(name=name, exec=run)

    async def drain(self, *versions: WorkflowVersion) -> None:
        await Worker(self.client, versions, poll_interval=0.001).run(until_idle=True)

    async def start(self, version: WorkflowVersion, input: Any = None) -> str:
        return (await self.client.start(version, input)).id

    async def status(self, run_id: str) -> RunStatus:
        return (await self.client.get(run_id)).status

    def statuses(self, run_id: str) -> list[tuple[RunStatus, RunStatus]]:
        entries = self.store.read_run(run_id)[1]
        return [(e.old, e.new) for e in entries if isinstance(e, StatusChanged)]


@pytest.fixture
def kit(clock: ManualClock) -> Kit:
    return Kit(clock)


def version(code: WorkflowFn, name: str = "ctl") -> WorkflowVersion:
    return WorkflowVersion(name, "1.0.0", code)


def refused(run: Callable[[], Awaitable[Any]]) -> IllegalTransition:
    """The IllegalTransition that `run` raises, after checking it is an exit-2 error."""

    async def catch() -> IllegalTransition:
        with pytest.raises(IllegalTransition) as caught:
            await run()
        return caught.value

    error = asyncio.run(catch())
    assert error.exit_code == 2
    return error


def sleeper(kit: Kit, length: str = "1h") -> WorkflowVersion:
    after = kit.task("after")

    async def code(input: Any, run: Run) -> Any:
        woken = await run.sleep("nap", length)
        await after.start(run, 1)
        return {"woken": woken}

    return version(code, "sleeper")


def two_steps(kit: Kit) -> WorkflowVersion:
    first, second = kit.task("first"), kit.task("second")

    async def code(input: Any, run: Run) -> Any:
        await first.start(run, 1)
        return await second.start(run, 2)

    return version(code, "steps")


# -- cancel ---------------------------------------------------------------------------


def test_cancelling_a_pending_run_is_immediate(kit: Kit) -> None:
    steps = two_steps(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(steps)
        info = await kit.client.cancel(run_id)
        assert info.status == S.CANCELLED
        assert not info.cancel_requested
        await kit.drain(steps)
        return await kit.client.get(run_id)

    assert asyncio.run(scenario()).status == S.CANCELLED
    assert kit.counts == Counter()


def test_cancelling_a_claimed_run_leaves_a_request_the_engine_acts_on(kit: Kit) -> None:
    steps = two_steps(kit)

    async def scenario() -> None:
        run_id = await kit.start(steps)
        claim = kit.store.claim(run_id)  # a worker holds the run
        assert claim is not None
        info = await kit.client.cancel(run_id)
        assert (info.status, info.cancel_requested) == (S.PENDING, True)
        assert "cancel" in kit.store.requests(run_id)
        claim.release()
        await kit.drain(steps)
        info = await kit.client.get(run_id)
        assert (info.status, info.cancel_requested) == (S.CANCELLED, False)

    asyncio.run(scenario())
    assert kit.counts == Counter()


def test_a_cancel_while_executing_lands_at_the_next_task_boundary(kit: Kit) -> None:
    seen: list[RunInfo] = []

    async def cancel_myself(value: Any) -> str:
        seen.append(await kit.client.cancel(value["run"]))
        return "done"

    first, second = kit.task("first", cancel_myself), kit.task("second")

    async def code(input: Any, run: Run) -> Any:
        await first.start(run, {"run": run.id})
        return await second.start(run, 2)

    steps = version(code)

    async def scenario() -> RunInfo:
        run_id = await kit.start(steps)
        await kit.drain(steps)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    [during] = seen
    assert (during.status, during.cancel_requested) == (S.RUNNING, True)
    assert info.status == S.CANCELLED
    assert kit.counts == Counter({"first": 1})  # the task in flight finished; none after it
    assert [(call.name, call.status) for call in info.tasks] == [("first", "completed")]


def test_cancel_cascades_to_children_and_grandchildren(kit: Kit) -> None:
    async def grand_code(input: Any, run: Run) -> Any:
        return (await run.wait_for_event("go")).data

    grand = version(grand_code, "grand")

    async def child_code(input: Any, run: Run) -> Any:
        return await (await grand.start(run, {})).wait_for_completion()

    child = version(child_code, "child")

    async def parent_code(input: Any, run: Run) -> Any:
        return await (await child.start(run, {})).wait_for_completion()

    parent = version(parent_code, "parent")

    async def scenario() -> None:
        parent_id = await kit.start(parent)
        await kit.drain(parent, child, grand)
        [child_id] = (await kit.client.get(parent_id)).children
        [grand_id] = (await kit.client.get(child_id)).children
        family = (parent_id, child_id, grand_id)
        assert [await kit.status(r) for r in family] == [
            S.AWAITING_CHILD,
            S.AWAITING_CHILD,
            S.AWAITING_EVENT,
        ]
        await kit.client.cancel(parent_id)
        assert [await kit.status(r) for r in family] == [S.CANCELLED] * 3
        await kit.drain(parent, child, grand)
        assert [await kit.status(r) for r in family] == [S.CANCELLED] * 3

    asyncio.run(scenario())


@pytest.mark.parametrize("ended", [S.COMPLETED, S.FAILED])
def test_an_ended_run_cannot_be_cancelled(kit: Kit, ended: RunStatus) -> None:
    async def code(input: Any, run: Run) -> Any:
        if input["fail"]:
            raise RuntimeError("boom")
        return "ok"

    done = version(code)

    async def make() -> str:
        run_id = await kit.start(done, {"fail": ended == S.FAILED})
        await kit.drain(done)
        assert await kit.status(run_id) == ended
        return run_id

    run_id = asyncio.run(make())
    error = refused(lambda: kit.client.cancel(run_id))
    assert error.current == ended
    assert f"is {ended}" in str(error)
    assert asyncio.run(kit.status(run_id)) == ended


def test_cancelling_a_cancelled_run_does_nothing(kit: Kit) -> None:
    steps = two_steps(kit)

    async def scenario() -> None:
        run_id = await kit.start(steps)
        await kit.client.cancel(run_id)
        before = kit.store.read_run(run_id)[1]
        info = await kit.client.cancel(run_id)
        assert info.status == S.CANCELLED
        assert kit.store.read_run(run_id)[1] == before
        assert kit.store.requests(run_id) == frozenset()

    asyncio.run(scenario())


# -- pause and resume -----------------------------------------------------------------


def test_a_paused_pending_run_waits_for_resume(kit: Kit) -> None:
    steps = two_steps(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(steps)
        assert (await kit.client.pause(run_id)).status == S.PAUSED
        await kit.drain(steps)
        kit.store.mark_ready(run_id)  # even queued, a paused run is not executed
        await kit.drain(steps)
        assert await kit.status(run_id) == S.PAUSED
        assert kit.counts == Counter()
        assert (await kit.client.resume(run_id)).status == S.PENDING
        await kit.drain(steps)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert info.status == S.COMPLETED
    assert kit.counts == Counter({"first": 1, "second": 1})


def test_a_paused_sleeping_run_is_not_woken_by_its_timer(kit: Kit) -> None:
    nap = sleeper(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(nap)
        await kit.drain(nap)
        assert await kit.status(run_id) == S.SLEEPING
        info = await kit.client.pause(run_id)
        assert (info.status, info.due_at) == (S.PAUSED, None)
        assert kit.store.next_due() is None
        kit.clock.advance(2 * 3600)
        kit.store.mark_ready(run_id)
        await kit.drain(nap)
        assert await kit.status(run_id) == S.PAUSED
        assert kit.counts == Counter()
        await kit.client.resume(run_id)
        await kit.drain(nap)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.result) == (S.COMPLETED, {"woken": False})
    assert kit.counts == Counter({"after": 1})
    assert (S.SLEEPING, S.PAUSED) in kit.statuses(info.id)
    assert (S.PAUSED, S.PENDING) in kit.statuses(info.id)


def test_a_run_resumed_before_its_sleep_ends_sleeps_to_the_same_time(kit: Kit) -> None:
    nap = sleeper(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(nap)
        await kit.drain(nap)
        await kit.client.pause(run_id)
        kit.clock.advance(600)
        await kit.client.resume(run_id)
        await kit.drain(nap)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.due_at) == (S.SLEEPING, info.created_at + timedelta(hours=1))
    assert kit.counts == Counter()


def test_a_paused_run_can_be_cancelled(kit: Kit) -> None:
    steps = two_steps(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(steps)
        await kit.client.pause(run_id)
        await kit.client.cancel(run_id)
        await kit.drain(steps)
        return await kit.client.get(run_id)

    assert asyncio.run(scenario()).status == S.CANCELLED
    assert kit.counts == Counter()


def test_a_pause_request_lands_when_the_sleep_is_due(kit: Kit) -> None:
    nap = sleeper(kit)

    async def scenario() -> None:
        run_id = await kit.start(nap)
        await kit.drain(nap)
        claim = kit.store.claim(run_id)  # a worker holds the run: the pause is a request
        assert claim is not None
        assert (await kit.client.pause(run_id)).status == S.SLEEPING
        claim.release()
        kit.clock.advance(2 * 3600)  # the sleep's timer is due
        await kit.drain(nap)
        assert await kit.status(run_id) == S.PAUSED
        assert kit.counts == Counter()
        assert kit.store.requests(run_id) == frozenset()
        await kit.client.resume(run_id)
        await kit.drain(nap)
        assert await kit.status(run_id) == S.COMPLETED

    asyncio.run(scenario())


def test_only_a_paused_run_can_be_resumed(kit: Kit) -> None:
    steps = two_steps(kit)
    run_id = asyncio.run(kit.start(steps))
    error = refused(lambda: kit.client.resume(run_id))
    assert error.current == S.PENDING
    assert "only paused runs can be resumed" in str(error)


def test_resuming_before_a_requested_pause_lands_says_when_to_try(kit: Kit) -> None:
    steps = two_steps(kit)

    async def request_pause() -> str:
        run_id = await kit.start(steps)
        claim = kit.store.claim(run_id)
        assert claim is not None
        await kit.client.pause(run_id)
        claim.release()
        return run_id

    run_id = asyncio.run(request_pause())
    error = refused(lambda: kit.client.resume(run_id))
    assert "pauses at its next task boundary" in str(error)


# -- wake -----------------------------------------------------------------------------


def test_waking_a_sleeping_run_ends_its_sleep_now(kit: Kit) -> None:
    nap = sleeper(kit, "30d")

    async def scenario() -> RunInfo:
        run_id = await kit.start(nap)
        await kit.drain(nap)
        await kit.client.wake(run_id)
        await kit.drain(nap)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.result) == (S.COMPLETED, {"woken": True})
    assert kit.clock.now() == info.created_at


def test_only_a_sleeping_run_can_be_woken(kit: Kit) -> None:
    steps = two_steps(kit)
    run_id = asyncio.run(kit.start(steps))
    error = refused(lambda: kit.client.wake(run_id))
    assert "only sleeping runs can be woken" in str(error)
    assert kit.store.requests(run_id) == frozenset()


# -- retry in place -------------------------------------------------------------------


def test_a_completed_run_cannot_be_retried(kit: Kit) -> None:
    steps = two_steps(kit)

    async def make() -> str:
        run_id = await kit.start(steps)
        await kit.drain(steps)
        return run_id

    run_id = asyncio.run(make())
    error = refused(lambda: kit.client.retry(run_id))
    assert "is completed" in str(error)


def test_retrying_a_failed_run_queues_its_next_attempt(kit: Kit) -> None:
    broken = {"charge": True}

    async def charge(value: Any) -> str:
        if broken["charge"]:
            raise RuntimeError("card declined")
        return "charged"

    validate, pay = kit.task("validate"), kit.task("charge", charge)

    async def code(input: Any, run: Run) -> Any:
        await validate.start(run, 1)
        return await pay.start(run, 2)

    order = version(code)

    async def scenario() -> RunInfo:
        run_id = await kit.start(order)
        await kit.drain(order)
        info = await kit.client.get(run_id)
        assert (info.status, info.attempt) == (S.FAILED, 1)
        kit.store.request(run_id, "cancel")  # stale requests from before it failed
        kit.store.request(run_id, "pause")
        info = await kit.client.retry(run_id)
        assert (info.status, info.attempt, info.error) == (S.PENDING, 2, None)
        assert not info.cancel_requested
        assert kit.store.requests(run_id) == frozenset()
        broken["charge"] = False  # the code fix
        await kit.drain(order)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.attempt, info.result) == (S.COMPLETED, 2, "charged")
    assert kit.counts == Counter({"validate": 1, "charge": 2})


def test_retrying_a_cancelled_run_runs_it(kit: Kit) -> None:
    steps = two_steps(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(steps)
        await kit.client.cancel(run_id)
        assert (await kit.client.retry(run_id)).status == S.PENDING
        await kit.drain(steps)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.attempt) == (S.COMPLETED, 2)


# -- a command that died midway: the next worker, or the same command again, finishes it --


def journal_alone(kit: Kit, run_id: str, new: RunStatus, **fields: Any) -> None:
    """Journal the run's change and nothing after it: what a command killed right after
    its journal entry left (the run stays as queued, or not, as it was)."""
    claim = kit.store.claim(run_id)
    assert claim is not None
    try:
        info = summarize(claim.spec, claim.entries)
        transition(claim, kit.clock, info.status, new, attempt=info.attempt, **fields)
    finally:
        claim.release()


def family(kit: Kit) -> tuple[WorkflowVersion, WorkflowVersion]:
    """A parent awaiting a sleeping child; a cancelled child is caught, then "after" runs."""
    nap = sleeper(kit)
    after = kit.task("parent-after")

    async def parent_code(input: Any, run: Run) -> Any:
        with contextlib.suppress(ChildCancelled):
            await (await nap.start(run, {})).wait_for_completion()
        return await after.start(run, 1)

    return version(parent_code, "parent"), nap


def test_cancelling_a_child_again_tells_the_parent_a_killed_cancel_did_not(kit: Kit) -> None:
    parent, nap = family(kit)

    async def scenario() -> tuple[RunStatus, RunStatus]:
        parent_id = await kit.start(parent)
        await kit.drain(parent, nap)
        [child_id] = (await kit.client.get(parent_id)).children
        journal_alone(kit, child_id, S.CANCELLED, reason="cancelled")
        await kit.drain(parent, nap)
        assert await kit.status(parent_id) == S.AWAITING_CHILD  # nothing told it
        await kit.client.cancel(child_id)  # the user repeats the command
        await kit.drain(parent, nap)
        return await kit.status(parent_id), await kit.status(child_id)

    assert asyncio.run(scenario()) == (S.COMPLETED, S.CANCELLED)
    assert kit.counts == Counter({"parent-after": 1})


def test_a_worker_cancels_the_children_of_a_cancelled_run_it_finds_queued(kit: Kit) -> None:
    parent, nap = family(kit)

    async def scenario() -> list[RunStatus]:
        parent_id = await kit.start(parent)
        await kit.drain(parent, nap)
        [child_id] = (await kit.client.get(parent_id)).children
        kit.store.mark_ready(parent_id)  # a cancel queues the run before it journals
        journal_alone(kit, parent_id, S.CANCELLED, reason="cancelled")
        await kit.drain(parent, nap)
        return [await kit.status(run) for run in (parent_id, child_id)]

    assert asyncio.run(scenario()) == [S.CANCELLED, S.CANCELLED]
    assert kit.counts == Counter()


@pytest.mark.parametrize("command", ["retry", "resume"])
def test_repeating_a_retry_or_resume_whose_first_try_died_queues_the_run(
    kit: Kit, command: str
) -> None:
    steps = two_steps(kit)

    async def scenario() -> RunInfo:
        run_id = await kit.start(steps)
        await (kit.client.cancel if command == "retry" else kit.client.pause)(run_id)
        reason = {"retry": "retried", "resume": "resumed"}[command]
        journal_alone(kit, run_id, S.PENDING, reason=reason)  # killed before it queued
        assert not kit.store.is_ready(run_id)
        info = await getattr(kit.client, command)(run_id)  # not "is pending"
        assert info.status == S.PENDING and kit.store.is_ready(run_id)
        await kit.drain(steps)
        return await kit.client.get(run_id)

    assert asyncio.run(scenario()).status == S.COMPLETED
    assert kit.counts == Counter({"first": 1, "second": 1})


# -- send -----------------------------------------------------------------------------


def test_an_ended_run_takes_no_events(kit: Kit) -> None:
    steps = two_steps(kit)

    async def make() -> str:
        run_id = await kit.start(steps)
        await kit.drain(steps)
        return run_id

    run_id = asyncio.run(make())
    error = refused(lambda: kit.client.send(run_id, "go", {"n": 1}))
    assert "is completed" in str(error)


def test_a_reference_id_delivers_an_event_once(kit: Kit) -> None:
    async def code(input: Any, run: Run) -> Any:
        first = await run.wait_for_event("go")
        second = await run.wait_for_event("go")
        return [first.data, second.data]

    twice = version(code)

    async def scenario() -> RunInfo:
        run_id = await kit.start(twice)
        assert await kit.client.send(run_id, "go", 1, reference_id="r1") is True
        assert await kit.client.send(run_id, "go", 99, reference_id="r1") is False
        await kit.drain(twice)
        assert await kit.status(run_id) == S.AWAITING_EVENT
        # delivered and acknowledged: the reference id is still known
        assert await kit.client.send(run_id, "go", 99, reference_id="r1") is False
        assert await kit.client.send(run_id, "go", 2, reference_id="r2") is True
        await kit.drain(twice)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.result) == (S.COMPLETED, [1, 2])
    received = [e for e in kit.store.read_run(info.id)[1] if isinstance(e, EventReceived)]
    assert [(e.data, e.reference_id) for e in received] == [(1, "r1"), (2, "r2")]


def test_a_resend_after_the_run_ended_is_already_sent_whatever_the_state(kit: Kit) -> None:
    """A webhook relay retries a send it already made: once delivered (journaled, or left
    unread in the inbox when the run ended), the reference id is known for good."""

    async def code(input: Any, run: Run) -> Any:
        return (await run.wait_for_event("go")).data

    once = version(code)

    async def scenario() -> tuple[str, str]:
        consumed = await kit.start(once)
        assert await kit.client.send(consumed, "go", 1, reference_id="r1") is True
        await kit.drain(once)
        assert await kit.status(consumed) == S.COMPLETED
        unread = await kit.start(once)
        assert await kit.client.send(unread, "go", 1, reference_id="r1") is True
        await kit.client.cancel(unread)
        assert await kit.status(unread) == S.CANCELLED
        return consumed, unread

    consumed, unread = asyncio.run(scenario())
    for run_id in (consumed, unread):
        assert asyncio.run(kit.client.send(run_id, "go", 1, reference_id="r1")) is False
        error = refused(lambda run_id=run_id: kit.client.send(run_id, "go", 1, reference_id="r2"))
        assert "cannot take events" in str(error)
        assert refused(lambda run_id=run_id: kit.client.send(run_id, "go", 1)).exit_code == 2


def test_an_event_sent_while_the_run_executes_is_not_lost(kit: Kit) -> None:
    """The run is still executing (not parked) when the event arrives: parking must not
    take it out of the queue for good (`claim.leave_queue()` leaves it there)."""

    async def send_to(value: Any) -> None:
        assert await kit.client.send(value["run"], "go", {"n": 7}) is True

    notify = kit.task("notify", send_to)

    async def code(input: Any, run: Run) -> Any:
        await notify.start(run, {"run": run.id})
        return (await run.wait_for_event("go")).data

    waits = version(code)

    async def scenario() -> RunInfo:
        run_id = await kit.start(waits)
        await kit.drain(waits)
        return await kit.client.get(run_id)

    info = asyncio.run(scenario())
    assert (info.status, info.result) == (S.COMPLETED, {"n": 7})
    assert (S.RUNNING, S.AWAITING_EVENT) in kit.statuses(info.id)
    assert kit.counts == Counter({"notify": 1})
