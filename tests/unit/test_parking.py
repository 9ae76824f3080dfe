"""Parking (SPEC §3): a run that waits for time, an event, a child or a retry holds no
worker slot; it parks once every branch of it waits, due at the earliest of their times.

Driven through the real engine and worker over the memory store, with a fixed clock;
counters prove which task bodies ran.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from aiki_cli import Client, MemoryStore, Run, RunInfo, RunStatus, Task, Worker, retry, task
from aiki_cli.authoring.retry import RetryPolicy
from aiki_cli.authoring.workflow import WorkflowFn, WorkflowVersion
from aiki_cli.model.entry import StatusChanged, TaskFailed
from aiki_cli.testing import START, Harness, ManualClock

S = RunStatus
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class Kit:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.store = MemoryStore()
        self.client = Client(self.store, clock=clock)
        self.counts: Counter[str] = Counter()
        self.started = clock.now()

    def task(
        self,
        name: str,
        body: Callable[[Any], Any] | None = None,
        *,
        retry: RetryPolicy | None = None,
        output: type[BaseModel] | None = None,
    ) -> Task:
        """A task that counts its executions and yields to the loop once."""

        async def run(value: Any) -> Any:
            self.counts[name] += 1
            await asyncio.sleep(0)
            return body(value) if body is not None else {"task": name, "input": value}

        return task(name=name, exec=run, retry=retry, output=output)

    def failing(self, name: str, failures: int, *, retry: RetryPolicy | None = None) -> Task:
        """A task whose first `failures` executions raise."""

        def body(value: Any) -> Any:
            if self.counts[name] <= failures:
                raise RuntimeError(f"{name} failed ({self.counts[name]})")
            return f"{name} ok"

        return self.task(name, body, retry=retry)

    def run(self, *versions: WorkflowVersion) -> None:
        worker = Worker(self.client, versions, poll_interval=0.001)
        asyncio.run(worker.run(until_idle=True))

    def start(self, version: WorkflowVersion, input: Any = None, **options: Any) -> str:
        return asyncio.run(self.client.start(version, input, **options)).id

    def info(self, run_id: str) -> RunInfo:
        return asyncio.run(self.client.get(run_id))

    def later(self, delta: timedelta) -> None:
        self.clock.advance(delta.total_seconds())

    def statuses(self, run_id: str) -> list[StatusChanged]:
        return [e for e in self.store.read_run(run_id)[1] if isinstance(e, StatusChanged)]


@pytest.fixture
def kit(clock: ManualClock) -> Kit:
    return Kit(clock)


def version(code: WorkflowFn, *, retry: RetryPolicy | None = None) -> WorkflowVersion:
    return WorkflowVersion("parking", "1.0.0", code, retry=retry)


# -- when a run parks -----------------------------------------------------------------


def test_a_run_parks_only_once_every_branch_waits(kit: Kit) -> None:
    one, two, three = kit.task("one"), kit.task("two"), kit.task("three")

    async def chain(run: Run) -> Any:
        a = await one.start(run, 1)
        b = await two.start(run, a)
        return await three.start(run, b)

    async def code(input: Any, run: Run) -> Any:
        event, last = await asyncio.gather(run.wait_for_event("go"), chain(run))
        return {"event": event.data, "last": last["task"]}

    both = version(code)
    run_id = kit.start(both)
    kit.run(both)
    info = kit.info(run_id)
    assert info.status == S.AWAITING_EVENT
    assert [(call.name, call.status) for call in info.tasks] == [
        ("one", "completed"),
        ("two", "completed"),
        ("three", "completed"),
    ]
    assert [e.new for e in kit.statuses(run_id)] == [S.RUNNING, S.AWAITING_EVENT]

    asyncio.run(kit.client.send(run_id, "go", "now"))
    kit.run(both)
    info = kit.info(run_id)
    assert (info.status, info.result) == (S.COMPLETED, {"event": "now", "last": "three"})
    assert kit.counts == Counter({"one": 1, "two": 1, "three": 1})


def test_a_park_is_due_at_the_earliest_wait(kit: Kit) -> None:
    async def code(input: Any, run: Run) -> Any:
        await asyncio.gather(run.sleep("long", "1h"), run.sleep("short", "10m"))
        return "rested"

    naps = version(code)
    run_id = kit.start(naps)
    kit.run(naps)
    info = kit.info(run_id)
    assert (info.status, info.due_at) == (S.SLEEPING, kit.started + 10 * MINUTE)
    assert kit.store.next_due() == kit.started + 10 * MINUTE

    kit.later(10 * MINUTE)
    kit.run(naps)
    info = kit.info(run_id)
    assert (info.status, info.due_at) == (S.SLEEPING, kit.started + HOUR)

    kit.later(50 * MINUTE)
    kit.run(naps)
    assert kit.info(run_id).status == S.COMPLETED
    assert kit.store.next_due() is None


def test_a_run_is_not_executed_before_its_sleep_is_due(kit: Kit) -> None:
    after = kit.task("after")

    async def code(input: Any, run: Run) -> Any:
        await run.sleep("nap", "1h")
        return await after.start(run, 1)

    nap = version(code)
    run_id = kit.start(nap)
    kit.run(nap)
    kit.later(HOUR - timedelta(seconds=1))
    kit.run(nap)
    assert kit.info(run_id).status == S.SLEEPING
    assert kit.counts == Counter()
    kit.later(timedelta(seconds=1))
    kit.run(nap)
    assert kit.info(run_id).status == S.COMPLETED
    assert kit.counts == Counter({"after": 1})


def test_a_sleep_that_grew_in_the_code_sleeps_only_the_difference(kit: Kit) -> None:
    def sleeping(length: str) -> WorkflowVersion:
        async def code(input: Any, run: Run) -> Any:
            await run.sleep("nap", length)
            return length

        return version(code)

    short, long = sleeping("1h"), sleeping("2h")
    run_id = kit.start(short)
    kit.run(short)
    assert kit.info(run_id).due_at == kit.started + HOUR

    kit.later(HOUR)
    kit.run(long)  # a deploy changed the code: the same name and version, 2h
    info = kit.info(run_id)
    assert (info.status, info.due_at) == (S.SLEEPING, kit.started + 2 * HOUR)

    kit.later(HOUR)
    kit.run(long)
    assert kit.info(run_id).status == S.COMPLETED


# -- task retries ---------------------------------------------------------------------


def test_a_short_task_retry_waits_in_the_worker(kit: Kit) -> None:
    flaky = kit.failing("flaky", 2, retry=retry.fixed(3, delay=0.5))

    async def code(input: Any, run: Run) -> Any:
        return await flaky.start(run, 1)

    quick = version(code)
    run_id = kit.start(quick)
    kit.run(quick)
    info = kit.info(run_id)
    assert (info.status, info.result) == (S.COMPLETED, "flaky ok")
    assert [e.new for e in kit.statuses(run_id)] == [S.RUNNING, S.COMPLETED]  # never parked
    assert kit.clock.now() == kit.started + timedelta(seconds=1)  # two waits on the clock
    [call] = info.tasks
    assert (call.status, call.attempts) == ("completed", 3)


def test_a_long_task_retry_parks_the_run_until_it_is_due(kit: Kit) -> None:
    flaky = kit.failing("flaky", 1, retry=retry.fixed(2, delay=60))

    async def code(input: Any, run: Run) -> Any:
        return await flaky.start(run, 1)

    slow = version(code)
    run_id = kit.start(slow)
    kit.run(slow)
    info = kit.info(run_id)
    [failure] = [e for e in kit.store.read_run(run_id)[1] if isinstance(e, TaskFailed)]
    assert failure.retry_at == kit.started + MINUTE
    assert (info.status, info.due_at) == (S.AWAITING_RETRY, failure.retry_at)
    assert [(call.status, call.attempts) for call in info.tasks] == [("retrying", 1)]
    assert kit.clock.now() == kit.started  # nothing waited in the worker

    kit.run(slow)
    assert kit.counts == Counter({"flaky": 1})  # not due yet
    kit.later(MINUTE)
    kit.run(slow)
    info = kit.info(run_id)
    assert (info.status, info.result) == (S.COMPLETED, "flaky ok")
    assert [(call.status, call.attempts) for call in info.tasks] == [("completed", 2)]


def test_an_invalid_task_output_is_not_retried(kit: Kit) -> None:
    class Receipt(BaseModel):
        amount: int

    bad = kit.task(
        "bad-output", lambda value: {"amount": "lots"}, retry=retry.fixed(3, 0.1), output=Receipt
    )

    async def code(input: Any, run: Run) -> Any:
        return await bad.start(run, 1)

    wrong = version(code)
    run_id = kit.start(wrong)
    kit.run(wrong)
    info = kit.info(run_id)
    assert info.status == S.FAILED
    assert kit.counts == Counter({"bad-output": 1})
    [failure] = [e for e in kit.store.read_run(run_id)[1] if isinstance(e, TaskFailed)]
    assert failure.error.type == "InputInvalid"
    assert failure.retry_at is None


def test_an_invalid_workflow_result_is_not_retried(kit: Kit) -> None:
    calls = Counter[str]()

    async def code(input: Any, run: Run) -> Any:
        calls["code"] += 1
        return {"not": "this"}

    class Result(BaseModel):
        ok: bool

    wrong = WorkflowVersion("parking", "1.0.0", code, output=Result, retry=retry.fixed(3, 60))
    run_id = kit.start(wrong)
    kit.run(wrong)
    info = kit.info(run_id)
    assert (info.status, info.attempt) == (S.FAILED, 1)
    assert info.error is not None and info.error.type == "InputInvalid"
    assert calls == Counter({"code": 1})


def test_a_divergence_is_not_retried(kit: Kit) -> None:
    first, inserted = kit.task("first"), kit.task("inserted")

    async def original(input: Any, run: Run) -> Any:
        await first.start(run, 1)
        return (await run.wait_for_event("go")).data

    async def changed(input: Any, run: Run) -> Any:
        await inserted.start(run, 1)  # a task inserted before the recorded one
        await first.start(run, 1)
        return (await run.wait_for_event("go")).data

    run_id = kit.start(version(original))
    kit.run(version(original))
    asyncio.run(kit.client.send(run_id, "go", 1))
    kit.run(version(changed, retry=retry.fixed(3, delay=60)))
    info = kit.info(run_id)
    assert (info.status, info.attempt) == (S.FAILED, 1)
    assert info.error is not None and info.error.type == "DivergenceError"
    assert kit.counts == Counter({"first": 1})  # the new task never ran
    assert kit.store.next_due() is None


# -- workflow retries and delayed starts ----------------------------------------------


def test_a_workflow_retry_replays_completed_tasks_and_reruns_the_failed_one(kit: Kit) -> None:
    prepare, charge = kit.task("prepare"), kit.failing("charge", 1)

    async def code(input: Any, run: Run) -> Any:
        await prepare.start(run, 1)
        return await charge.start(run, 2)

    order = version(code, retry=retry.fixed(2, delay=60))
    run_id = kit.start(order)
    kit.run(order)
    info = kit.info(run_id)
    assert (info.status, info.due_at) == (S.AWAITING_RETRY, kit.started + MINUTE)
    assert info.error is not None and info.error.type == "TaskFailed"

    kit.later(MINUTE)
    kit.run(order)
    info = kit.info(run_id)
    assert (info.status, info.attempt, info.result) == (S.COMPLETED, 2, "charge ok")
    assert info.error is None
    assert kit.counts == Counter({"prepare": 1, "charge": 2})


def retried_order(kit: Kit) -> WorkflowVersion:
    charge = kit.failing("charge", 1)

    async def code(input: Any, run: Run) -> Any:
        return await charge.start(run, 1)

    return version(code, retry=retry.fixed(3, delay=60))


def test_an_event_does_not_bring_a_workflow_retry_forward(kit: Kit) -> None:
    order = retried_order(kit)
    run_id = kit.start(order)
    kit.run(order)
    asyncio.run(kit.client.send(run_id, "nudge", 1))  # queues the run before its retry
    kit.run(order)
    info = kit.info(run_id)
    assert (info.status, info.attempt, info.due_at) == (S.AWAITING_RETRY, 1, kit.started + MINUTE)
    assert kit.counts == Counter({"charge": 1})
    assert kit.store.next_due() == kit.started + MINUTE

    kit.later(MINUTE)
    kit.run(order)
    assert (kit.info(run_id).status, kit.info(run_id).attempt) == (S.COMPLETED, 2)
    assert kit.counts == Counter({"charge": 2})


def test_pausing_a_run_that_awaits_its_workflow_retry_keeps_the_retry(kit: Kit) -> None:
    order = retried_order(kit)
    run_id = kit.start(order)
    kit.run(order)
    asyncio.run(kit.client.pause(run_id))
    kit.later(MINUTE)
    asyncio.run(kit.client.resume(run_id))
    kit.run(order)
    info = kit.info(run_id)
    assert (info.status, info.attempt) == (S.COMPLETED, 2)
    assert kit.counts == Counter({"charge": 2})


def test_a_delayed_start_runs_once_it_is_due(kit: Kit) -> None:
    step = kit.task("step")

    async def code(input: Any, run: Run) -> Any:
        return await step.start(run, input)

    later = version(code)
    run_id = kit.start(later, 5, delay="1h")
    kit.run(later)
    info = kit.info(run_id)
    assert (info.status, info.due_at) == (S.PENDING, kit.started + HOUR)
    assert kit.counts == Counter()

    kit.later(HOUR - timedelta(seconds=1))
    kit.run(later)
    assert kit.counts == Counter()

    kit.later(timedelta(seconds=1))
    kit.run(later)
    assert kit.info(run_id).status == S.COMPLETED
    assert kit.counts == Counter({"step": 1})


# -- the test harness -----------------------------------------------------------------


async def _month(input: Any, run: Run) -> Any:
    await run.sleep("month", "30d")
    return "rested"


def test_the_harness_skips_a_long_sleep_at_once() -> None:
    month = version(_month)

    async def scenario() -> tuple[Harness, RunInfo]:
        harness = Harness([month])
        handle = await harness.start(month)
        await harness.run_until_idle()
        return harness, await handle.get_status()

    began = time.monotonic()
    harness, info = asyncio.run(scenario())
    assert time.monotonic() - began < 2
    assert (info.status, info.result) == (S.COMPLETED, "rested")
    assert harness.clock.now() == START + timedelta(days=30)


def test_the_harness_advance_stops_the_clock_where_told() -> None:
    month = version(_month)

    async def scenario() -> tuple[Harness, RunInfo]:
        harness = Harness([month])
        handle = await harness.start(month)
        await harness.advance("1d")
        return harness, await handle.get_status()

    harness, info = asyncio.run(scenario())
    assert harness.clock.now() == START + timedelta(days=1)
    assert (info.status, info.due_at) == (S.SLEEPING, START + timedelta(days=30))


class FiredWhileParking:
    """A claim whose run's timer comes due and is fired by another worker while this one
    is still parking the run: between setting the timer and leaving the queue."""

    def __init__(self, claim: Any, store: MemoryStore, clock: ManualClock) -> None:
        self._claim, self._store, self._clock = claim, store, clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._claim, name)

    def leave_queue(self) -> None:
        self._clock.advance(3600)
        for timer in self._store.due_timers(self._clock.now()):
            self._store.mark_ready(timer.target)  # queued already: this changes nothing
            self._store.clear_timer(timer)
        self._claim.leave_queue()


def test_a_timer_fired_while_its_run_parks_leaves_the_run_queued(clock: ManualClock) -> None:
    """Seen under load in the reliability tier: a 0.5 s event timeout came due while the
    worker was still parking the run; the timer was fired and cleared, then the run left
    the queue, and nothing would ever wake it."""
    from aiki_cli.engine.execution import Engine

    async def code(input: Any, run: Run) -> Any:
        return await run.sleep("nap", "1m")

    version = WorkflowVersion("napper", "1.0.0", code)
    store = MemoryStore()
    run_id = Client(store, clock=clock).create(version, None).id
    claim = store.claim(run_id)
    engine = Engine({version.ref: version}, store, clock=clock, worker_id="w1")

    status = asyncio.run(engine.execute(FiredWhileParking(claim, store, clock)))  # type: ignore[arg-type]
    claim.release()

    assert status == S.SLEEPING
    assert store.due_timers(clock.now()) == []  # fired and gone: only the queue is left
    assert store.ready_runs() == [run_id]
