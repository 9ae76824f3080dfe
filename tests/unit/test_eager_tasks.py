"""Task attempts start at once, in the calling branch (SPEC §3 semantics unchanged):
an attempt that never waits costs no turn of the event loop, yet a long row of them
still lets the loop turn, and an attempt that does wait is its own asyncio task, so that
cancelling the branch that awaited it does not interrupt it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiki_cli import Client, MemoryStore, Run, RunStatus, Worker, task
from aiki_cli.authoring.workflow import WorkflowVersion

counts: Counter[str] = Counter()


@task(name="instant")
async def instant(value: int) -> int:
    counts["instant"] += 1
    return value


@task(name="slow")
async def slow(value: int) -> int:
    counts["slow started"] += 1
    await asyncio.sleep(0.05)
    counts["slow finished"] += 1
    return value


def execute(code: Any, input: Any = None) -> tuple[Client, str]:
    version = WorkflowVersion("eager", "1.0.0", code)
    client = Client(MemoryStore())

    async def scenario() -> str:
        run_id = (await client.start(version, input)).id
        await Worker(client, [version]).run(until_idle=True)
        return run_id

    return client, asyncio.run(scenario())


def test_a_long_row_of_tasks_that_never_wait_lets_the_loop_turn() -> None:
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def code(input: int, run: Run) -> int:
        ticking = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)  # the ticker's first turn
        before = turns
        for i in range(input):
            await instant.start(run, i)
        during = turns - before
        ticking.cancel()
        return during

    counts.clear()
    client, run_id = execute(code, 320)
    info = asyncio.run(client.get(run_id))
    assert info.status == RunStatus.COMPLETED
    assert counts["instant"] == 320
    assert 320 // 32 <= info.result < 320  # a turn now and then, not one per task


def test_a_waiting_task_finishes_and_is_journaled_though_its_branch_is_cancelled() -> None:
    async def code(input: Any, run: Run) -> str:
        branch = asyncio.ensure_future(slow.start(run, 1))
        await asyncio.sleep(0.01)  # the slow task has started and waits
        branch.cancel()
        await instant.start(run, 2)
        return "done"

    counts.clear()
    client, run_id = execute(code)
    info = asyncio.run(client.get(run_id))
    assert info.status == RunStatus.COMPLETED
    assert counts["slow started"] == counts["slow finished"] == 1
    assert {(call.name, call.status) for call in info.tasks} == {
        ("slow", "completed"),
        ("instant", "completed"),
    }
