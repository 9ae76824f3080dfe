"""The surface of `Run` that tasks, versions and child handles call: `run.call`,
`run.start_child` and `run.await_child` are durable as the calls built on them are, and
`WorkflowVersion.start` chooses by what it is given (a client or a run).

Driven through the real engine and worker over the memory store, with a fixed clock;
counters prove which bodies ran and how often.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from aiki_cli import ChildHandle, Client, MemoryStore, Run, RunHandle, RunStatus, Worker, task
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.testing import ManualClock


class Kit:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.client = Client(MemoryStore(), clock=clock)
        self.counts: Counter[str] = Counter()

    def work(self, *versions: WorkflowVersion) -> None:
        worker = Worker(self.client, versions, poll_interval=0.001)
        asyncio.run(worker.run(until_idle=True))

    def status(self, run_id: str) -> RunStatus:
        return asyncio.run(self.client.get(run_id)).status


@pytest.fixture
def kit(clock: ManualClock) -> Kit:
    return Kit(clock)


def test_run_call_executes_a_task_once_and_replays_its_result(kit: Kit) -> None:
    @task(name="double")
    def double(value: int) -> int:
        kit.counts["double"] += 1
        return value * 2

    async def code(value: int, run: Run) -> list[int]:
        first = await run.call(double, value)
        await run.sleep("nap", 60)  # parks: the code runs again from the top once due
        return [first, await double.start(run, value + 1)]

    version = WorkflowVersion("calls", "1.0.0", code)
    run_id = asyncio.run(kit.client.start(version, 5)).id
    kit.work(version)
    assert kit.status(run_id) == RunStatus.SLEEPING
    kit.clock.advance(61)
    kit.work(version)
    info = asyncio.run(kit.client.get(run_id))
    assert info.status == RunStatus.COMPLETED
    assert info.result == [10, 12]
    assert kit.counts["double"] == 2  # once per input, though the code ran twice


def test_run_start_child_starts_once_and_await_child_gives_its_result(kit: Kit) -> None:
    async def child_code(value: int, run: Run) -> int:
        kit.counts["child"] += 1
        return value + 1

    child = WorkflowVersion("child", "1.0.0", child_code)

    async def parent_code(value: int, run: Run) -> Any:
        kit.counts["parent"] += 1
        handle = await run.start_child(child, value)
        assert isinstance(handle, ChildHandle)
        return await run.await_child(handle.id)

    parent = WorkflowVersion("parent", "1.0.0", parent_code)
    run_id = asyncio.run(kit.client.start(parent, 41)).id
    kit.work(parent, child)
    info = asyncio.run(kit.client.get(run_id))
    assert info.status == RunStatus.COMPLETED
    assert info.result == 42
    assert kit.counts["parent"] == 2  # parked awaiting its child, then replayed
    assert kit.counts["child"] == 1
    assert len(asyncio.run(kit.client.list())) == 2  # one child, however often replayed


def test_a_version_starts_a_run_with_a_client_and_a_child_with_a_run(kit: Kit) -> None:
    async def child_code(value: Any, run: Run) -> str:
        return "done"

    child = WorkflowVersion("kid", "1.0.0", child_code)
    handles: list[object] = []

    async def parent_code(value: Any, run: Run) -> str:
        handle = await child.start(run)
        handles.append(handle)
        result: str = await handle.wait_for_completion()
        return result

    parent = WorkflowVersion("elder", "1.0.0", parent_code)
    started = asyncio.run(parent.start(kit.client))
    assert isinstance(started, RunHandle)
    kit.work(parent, child)
    assert kit.status(started.id) == RunStatus.COMPLETED
    assert handles and all(isinstance(handle, ChildHandle) for handle in handles)


def test_a_version_started_with_anything_else_says_what_it_takes() -> None:
    async def code(value: Any, run: Run) -> None:
        return None

    version = WorkflowVersion("lone", "1.0.0", code)
    with pytest.raises(TypeError, match=r"start lone@1\.0\.0 with a Client or a Run, not str"):
        asyncio.run(version.start("runs"))  # type: ignore[call-overload]
