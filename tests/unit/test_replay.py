"""Replay and divergence (SPEC §3), driven through the real engine and worker.

Each test runs version A of a workflow until its worker "dies" (a task cancels the
execution as a process going down does, not as a worker handing the run back: the run is
left `running`), then lets a `Worker` take the run over with version B: the same name and
version, changed code. Counters prove which task bodies ran, and how often.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, Task, TaskFailed, Worker, task
from aiki_cli.authoring.workflow import WorkflowFn, WorkflowVersion
from aiki_cli.engine.execution import Engine
from aiki_cli.model.runinfo import RunInfo
from aiki_cli.model.status import RunStatus
from aiki_cli.testing import ManualClock
from aiki_cli.values.canonical import address


class Harness:
    def __init__(self, clock: ManualClock) -> None:
        self.client = Client(MemoryStore(), clock=clock)
        self.counts: Counter[str] = Counter()
        self.crash = task(name="crash", exec=self._crash)

    async def _crash(self, value: Any) -> None:
        """The worker process dies here: its execution is cancelled, and not by a worker."""
        self.counts["crash"] += 1
        execution = asyncio.current_task()
        assert execution is not None
        execution.cancel()
        await asyncio.Event().wait()  # never returns: the cancellation ends it

    def task(self, name: str, body: Callable[[Any], Any] | None = None) -> Task:
        """A task that counts its executions and says which call of it produced a result."""

        async def run(value: Any) -> Any:
            self.counts[name] += 1
            if body is not None:
                return body(value)
            return {"task": name, "input": value, "call": self.counts[name]}

        return task(name=name, exec=run)

    def interrupt(self, code: WorkflowFn) -> str:
        """Start a run of `code` and execute it until its worker dies; the run's id."""
        version = WorkflowVersion("wf", "1.0.0", code)
        run_id = self.client.create(version, {"order": 1}).id
        claim = self.client.store.claim(run_id)
        assert claim is not None
        engine = Engine(
            {version.ref: version}, self.client.store, clock=self.client.clock, worker_id="doomed"
        )
        try:
            with pytest.raises(asyncio.CancelledError):
                asyncio.run(engine.execute(claim))
        finally:
            claim.release()  # what the kernel does when a worker dies
        assert self.info(run_id).status == RunStatus.RUNNING
        return run_id

    def resume(self, run_id: str, code: WorkflowFn) -> RunInfo:
        """Let a fresh worker with `code` as the same version take the run over."""
        version = WorkflowVersion("wf", "1.0.0", code)
        worker = Worker(self.client, [version], poll_interval=0.01)
        asyncio.run(worker.run(until_idle=True))
        return self.info(run_id)

    def info(self, run_id: str) -> RunInfo:
        return asyncio.run(self.client.get(run_id))


@pytest.fixture
def h(clock: ManualClock) -> Harness:
    return Harness(clock)


def assert_diverged(info: RunInfo, new_task: str, *unconsumed: str) -> None:
    assert info.status == RunStatus.FAILED
    assert info.error is not None
    assert info.error.type == "DivergenceError"
    assert f"task {new_task!r}" in info.error.message
    for name in unconsumed:
        assert name in info.error.message


# -- the six cases -----------------------------------------------------------------------


def test_reordering_recorded_tasks_with_distinct_inputs_is_safe(h: Harness) -> None:
    step = h.task("step")

    async def a(input: Any, run: Run) -> None:
        await step.start(run, "first")
        await step.start(run, "second")
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        second = await step.start(run, "second")
        first = await step.start(run, "first")
        return [first["call"], second["call"]]

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.COMPLETED
    assert info.result == [1, 2]  # each got the result recorded for its own input
    assert h.counts["step"] == 2


def test_removing_a_recorded_task_is_safe(h: Harness) -> None:
    charge, notify = h.task("charge"), h.task("notify")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await notify.start(run, "paid")
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        return await charge.start(run, 10)

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.COMPLETED
    assert info.result == {"task": "charge", "input": 10, "call": 1}
    assert h.counts == Counter(charge=1, notify=1, crash=1)


def test_appending_a_task_after_the_recorded_ones_is_safe(h: Harness) -> None:
    charge, ship = h.task("charge"), h.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        paid = await charge.start(run, 10)
        shipped = await ship.start(run, input["order"])
        return [paid["call"], shipped["call"]]

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.COMPLETED
    assert info.result == [1, 1]
    assert h.counts == Counter(charge=1, ship=1, crash=1)
    assert info.recoveries == 1
    assert [(call.name, call.status) for call in info.tasks] == [
        ("charge", "completed"),
        ("crash", "interrupted"),
        ("ship", "completed"),
    ]


def test_inserting_a_task_before_a_recorded_one_diverges_before_it_runs(h: Harness) -> None:
    charge, fraud_check, ship = h.task("charge"), h.task("fraud-check"), h.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await ship.start(run, 1)
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await fraud_check.start(run, 10)
        await ship.start(run, 1)

    info = h.resume(h.interrupt(a), b)
    assert_diverged(info, "fraud-check", str(address("ship", 1)))
    assert str(address("charge", 10)) not in info.error.message  # type: ignore[union-attr]
    assert h.counts["fraud-check"] == 0
    assert h.counts == Counter(charge=1, ship=1, crash=1)


def test_changing_a_tasks_input_diverges(h: Harness) -> None:
    charge, ship = h.task("charge"), h.task("ship")

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, {"amount": 10})
        await ship.start(run, 1)
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await charge.start(run, {"amount": 9})
        await ship.start(run, 1)

    info = h.resume(h.interrupt(a), b)
    assert_diverged(info, "charge", str(address("charge", {"amount": 10})), "ship#")
    assert h.counts == Counter(charge=1, ship=1, crash=1)


def test_changed_control_flow_diverges(h: Harness) -> None:
    total = h.task("total", lambda value: 150)
    discount, ship = h.task("discount"), h.task("ship")

    async def a(input: Any, run: Run) -> None:
        amount = await total.start(run, input)
        if amount > 100:
            await discount.start(run, amount)
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        amount = await total.start(run, input)
        if amount > 1000:  # the threshold moved: the recorded discount is never asked for
            await discount.start(run, amount)
        await ship.start(run, amount)

    info = h.resume(h.interrupt(a), b)
    assert_diverged(info, "ship", str(address("discount", 150)))
    assert h.counts == Counter(total=1, discount=1, crash=1)


# -- more replay guarantees -----------------------------------------------------------


def test_gathered_tasks_replay_their_recorded_results(h: Harness) -> None:
    step, other = h.task("step"), h.task("other")
    first_run: list[Any] = []

    async def a(input: Any, run: Run) -> None:
        first_run.extend(
            await asyncio.gather(step.start(run, 1), step.start(run, 2), other.start(run, 3))
        )
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        return await asyncio.gather(step.start(run, 1), step.start(run, 2), other.start(run, 3))

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.COMPLETED
    assert info.result == first_run
    assert h.counts == Counter(step=2, other=1, crash=1)


def test_a_new_branch_gathered_before_recorded_ones_is_not_a_divergence(h: Harness) -> None:
    step, fresh = h.task("step"), h.task("fresh")

    async def a(input: Any, run: Run) -> None:
        await asyncio.gather(step.start(run, 1), step.start(run, 2))
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        results = await asyncio.gather(fresh.start(run, 0), step.start(run, 2), step.start(run, 1))
        return [result["call"] for result in results]

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.COMPLETED
    assert info.result == [1, 2, 1]
    assert h.counts == Counter(step=2, fresh=1, crash=1)


def out_of_stock(value: Any) -> Any:
    raise ValueError("out of stock")


def test_a_failed_task_raises_the_same_task_failed_on_replay(h: Harness) -> None:
    reserve = h.task("reserve", out_of_stock)
    first_run: list[Any] = []

    async def seen(run: Run) -> list[str]:
        with pytest.raises(TaskFailed) as caught:
            await reserve.start(run, {"sku": "x"})
        return [caught.value.task, caught.value.error_type, caught.value.error_message]

    async def a(input: Any, run: Run) -> None:
        first_run.append(await seen(run))
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        return await seen(run)

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.COMPLETED
    assert info.result == first_run[0] == ["reserve", "ValueError", "out of stock"]
    assert h.counts["reserve"] == 1


def test_a_replayed_task_failure_fails_the_run_like_the_first_time(h: Harness) -> None:
    reserve = h.task("reserve", out_of_stock)

    async def a(input: Any, run: Run) -> None:
        try:
            await reserve.start(run, 1)
        except TaskFailed:
            await h.crash.start(run)

    async def b(input: Any, run: Run) -> None:
        await reserve.start(run, 1)

    info = h.resume(h.interrupt(a), b)
    assert info.status == RunStatus.FAILED
    assert info.error is not None
    assert (info.error.type, info.error.task) == ("TaskFailed", "reserve")
    assert "ValueError: out of stock" in info.error.message
    assert h.counts["reserve"] == 1


def test_except_exception_cannot_swallow_a_divergence(h: Harness) -> None:
    charge, fraud_check, ship = h.task("charge"), h.task("fraud-check"), h.task("ship")
    swallowed: list[BaseException] = []

    async def a(input: Any, run: Run) -> None:
        await charge.start(run, 10)
        await ship.start(run, 1)
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        await charge.start(run, 10)
        try:
            await fraud_check.start(run, 10)
        except Exception as error:
            swallowed.append(error)
        return await ship.start(run, 1)

    info = h.resume(h.interrupt(a), b)
    assert_diverged(info, "fraud-check", "ship#")
    assert swallowed == []
    assert h.counts["fraud-check"] == 0


def test_task_outputs_are_json_values_on_the_first_run_and_on_replay(h: Harness) -> None:
    pair = h.task("pair", lambda value: {"pair": (1, 2), 3: "three"})
    first_run: list[Any] = []

    async def a(input: Any, run: Run) -> None:
        first_run.append(await pair.start(run))
        await h.crash.start(run)

    async def b(input: Any, run: Run) -> Any:
        out = await pair.start(run)
        return [type(out["pair"]).__name__, out]

    info = h.resume(h.interrupt(a), b)
    assert first_run == [{"pair": [1, 2], "3": "three"}]
    assert type(first_run[0]["pair"]) is list
    assert info.result == ["list", {"pair": [1, 2], "3": "three"}]
    assert h.counts["pair"] == 1
