"""`run.progress(message, fraction)` (issue 20 item 4): a small journal entry, journaled
once however often the run is replayed, never a divergence, the latest in `status`."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, RunStatus, Worker, task
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.model.entry import Progress, TaskCompleted
from aiki_cli.model.journal import summarize
from aiki_cli.testing import ManualClock

counts: Counter[str] = Counter()


@task(name="count")
async def count(input: int) -> int:
    counts[f"count-{input}"] += 1
    return input


class Kit:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.client = Client(MemoryStore(), clock=clock)

    def work(self, version: WorkflowVersion) -> None:
        asyncio.run(Worker(self.client, [version], poll_interval=0.001).run(until_idle=True))

    def progress(self, run_id: str) -> list[tuple[str, float | None]]:
        entries = self.client.store.read_run(run_id)[1]
        return [(e.message, e.fraction) for e in entries if isinstance(e, Progress)]


@pytest.fixture
def kit(clock: ManualClock) -> Kit:
    counts.clear()
    return Kit(clock)


async def halves(input: Any, run: Run) -> str:
    run.progress("first half", 0.0)
    await count.start(run, 1)
    await run.sleep("nap", 60)  # parks: the code runs again from the top once due
    run.progress("second half", 0.5)
    await count.start(run, 2)
    run.progress("done")
    return "ok"


HALVES = WorkflowVersion("halves", "1.0.0", halves)


def test_progress_is_journaled_once_though_the_code_says_it_on_every_replay(kit: Kit) -> None:
    run_id = kit.client.create(HALVES, None).id
    kit.work(HALVES)
    assert kit.progress(run_id) == [("first half", 0.0)]
    assert asyncio.run(kit.client.get(run_id)).progress.message == "first half"  # type: ignore[union-attr]

    kit.clock.advance(61)
    kit.work(HALVES)

    info = asyncio.run(kit.client.get(run_id))
    assert info.status == RunStatus.COMPLETED
    assert kit.progress(run_id) == [("first half", 0.0), ("second half", 0.5), ("done", None)]
    assert counts == Counter({"count-1": 1, "count-2": 1})
    assert info.progress is not None and (info.progress.message, info.progress.fraction) == (
        "done",
        None,
    )
    assert info.document()["progress"] == {
        "message": "done",
        "fraction": None,
        "at": info.progress.at.isoformat().replace("+00:00", "Z"),
    }


def test_progress_changed_in_new_code_neither_diverges_nor_is_journaled(kit: Kit) -> None:
    async def reworded(input: Any, run: Run) -> str:
        run.progress("first half, reworded", 0.1)
        await count.start(run, 1)
        await run.sleep("nap", 60)
        run.progress("a new second half")
        await count.start(run, 2)
        return "ok"

    run_id = kit.client.create(HALVES, None).id
    kit.work(HALVES)
    kit.clock.advance(61)
    kit.work(WorkflowVersion("halves", "1.0.0", reworded))  # deployed while it slept

    info = asyncio.run(kit.client.get(run_id))
    assert info.status == RunStatus.COMPLETED
    assert kit.progress(run_id) == [("first half", 0.0), ("a new second half", None)]
    assert counts == Counter({"count-1": 1, "count-2": 1})


def test_progress_is_not_a_call_replay_matches_against(kit: Kit) -> None:
    async def noisy(input: Any, run: Run) -> int:
        for i in range(3):
            run.progress(f"step {i}", i / 3)
            await count.start(run, i)
        return 3

    version = WorkflowVersion("noisy", "1.0.0", noisy)
    run_id = kit.client.create(version, None).id
    kit.work(version)

    entries = kit.client.store.read_run(run_id)[1]
    kinds = [entry.type for entry in entries if entry.type in ("progress", "task_completed")]
    assert kinds == ["progress", "task_completed"] * 3
    assert summarize(*kit.client.store.read_run(run_id)).status == RunStatus.COMPLETED
    assert sum(isinstance(entry, TaskCompleted) for entry in entries) == 3


@pytest.mark.parametrize("fraction", [1.5, -0.1, float("nan"), "half"])
def test_a_fraction_outside_0_to_1_fails_the_run_saying_so(kit: Kit, fraction: Any) -> None:
    async def wrong(input: Any, run: Run) -> None:
        run.progress("working", fraction)

    version = WorkflowVersion("wrong", "1.0.0", wrong)
    run_id = kit.client.create(version, None).id
    kit.work(version)

    info = asyncio.run(kit.client.get(run_id))
    assert info.status == RunStatus.FAILED and info.error is not None
    assert info.error.type == "ValueError"
    assert "a progress fraction is a number from 0 to 1" in info.error.message
    assert kit.progress(run_id) == []
