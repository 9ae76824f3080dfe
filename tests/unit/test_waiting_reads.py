"""Waiting for a run costs the entries appended since the last check, not the journal
(issue 19 item 2): `Client.wait`, `Client.follow` and `Worker.drive` (what `start --wait`
runs) read each journal entry once at most, and never fold the whole journal again."""

from __future__ import annotations

import asyncio
from typing import Any

from aiki_cli import Client, MemoryStore, Run, Worker, task
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.model.entry import Entry
from aiki_cli.model.runinfo import RunInfo, RunSpec
from aiki_cli.model.status import RunStatus

STEPS = 60


class CountingStore(MemoryStore):
    """A memory store that counts what readers take from it."""

    def __init__(self) -> None:
        super().__init__()
        self.entries_read = 0
        self.whole_reads = 0

    def read_since(self, run_id: str, cursor: int = 0) -> tuple[RunSpec, list[Entry], int]:
        spec, entries, after = super().read_since(run_id, cursor)
        self.entries_read += len(entries)
        return spec, entries, after

    def read_summary(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        self.whole_reads += 1
        return super().read_summary(run_id, tasks=tasks)


@task(name="step")
async def step(input: int) -> int:
    await asyncio.sleep(0)  # a task that yields, so the waiter gets turns in between
    return input


async def steps(input: dict[str, int], run: Run) -> int:
    for i in range(input["k"]):
        await step.start(run, i)
    return input["k"]


VERSION = WorkflowVersion("stepping", "1.0.0", steps)


def journal_length(store: MemoryStore, run_id: str) -> int:
    return len(store.read_run(run_id)[1])


def test_driving_a_run_reads_none_of_its_journal_back() -> None:
    """Its claim held every entry: `drive` folds those (`tests/unit/test_drive_held.py`)."""
    store = CountingStore()
    client = Client(store)
    run_id = client.create(VERSION, {"k": STEPS}).id

    info = asyncio.run(Worker(client, [VERSION]).drive(run_id))

    assert info.status == RunStatus.COMPLETED and info.result == STEPS
    assert len(info.tasks) == STEPS
    assert store.entries_read == 0
    assert store.whole_reads == 0


def test_waiting_reads_each_entry_once_while_a_worker_executes_the_run() -> None:
    store = CountingStore()
    client = Client(store)
    run_id = client.create(VERSION, {"k": STEPS}).id

    async def both() -> RunInfo:
        waiting = asyncio.ensure_future(client.wait(run_id, timeout=30))
        await Worker(client, [VERSION]).run(until_idle=True)
        return await waiting

    info = asyncio.run(both())

    assert info.status == RunStatus.COMPLETED and len(info.tasks) == STEPS
    assert info.model_dump() == client.store.read_summary(run_id).model_dump()
    assert store.entries_read == journal_length(store, run_id)
    assert store.whole_reads == 1  # the comparison above, not the wait


def test_following_gives_every_entry_once_in_order_and_ends_with_the_run() -> None:
    store = MemoryStore()
    client = Client(store)
    run_id = client.create(VERSION, {"k": STEPS}).id

    async def follow_while_executed() -> list[tuple[list[Entry], Any]]:
        batches: list[tuple[list[Entry], Any]] = []

        async def follow() -> None:
            async for entries, info in client.follow(run_id, wait=0.01):
                batches.append((entries, info.status))

        following = asyncio.ensure_future(follow())
        await Worker(client, [VERSION]).run(until_idle=True)
        await asyncio.wait_for(following, 30)
        return batches

    batches = asyncio.run(follow_while_executed())

    seen = [entry for entries, _ in batches for entry in entries]
    assert seen == store.read_run(run_id)[1]
    assert batches[-1][1] == RunStatus.COMPLETED
    assert [status for _, status in batches[:-1]] == [
        status for _, status in batches[:-1] if not status.terminal
    ]
