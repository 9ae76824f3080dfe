"""A run whose code has ended waits for the sync of its journal without holding a slot:
the worker executes the next runs while the disk syncs, and holds at most twice
`concurrency` runs at once."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, Worker, task, workflow
from aiki_cli.model.entry import Entry
from aiki_cli.store import Claim, memory


class GatedStore(MemoryStore):
    """A store whose journals reach "the disk" from the worker's sync threads only once
    the test opens `gate`; it counts the runs claimed and not yet released."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.held = 0
        self.most_held = 0

    def flush_together(self, claims: list[Claim]) -> bool:
        return False  # each claim syncs alone, at the gate


class GatedClaim(memory.MemoryClaim):
    store: GatedStore

    def __init__(self, store: GatedStore, run: Any, *, queued: bool) -> None:
        super().__init__(store, run, queued=queued)
        self.store = store
        self.unsynced = False
        store.held += 1
        store.most_held = max(store.most_held, store.held)

    def append(self, *entries: Entry, sync: bool = True) -> None:
        super().append(*entries, sync=sync)
        self.unsynced = self.unsynced or sync

    def flush(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            assert self.store.gate.wait(5), "the test never opened the gate"
        self.unsynced = False

    def release(self) -> None:
        self.store.held -= 1
        super().release()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> GatedStore:
    monkeypatch.setattr(memory, "MemoryClaim", GatedClaim)
    return GatedStore()


def test_runs_execute_while_the_ended_ones_wait_for_their_sync(store: GatedStore) -> None:
    executed: list[int] = []

    @task(name="count")
    async def count(value: int) -> int:
        executed.append(value)
        return value

    flow = workflow(name="slots-probe")

    @flow.v("1.0.0")
    async def probe(input: int, run: Run) -> int:
        return await count.start(run, input)

    async def scenario() -> list[str]:
        client = Client(store)
        ids = [(await probe.start(client, i)).id for i in range(10)]
        worker = Worker(client, [flow], concurrency=2, poll_interval=0.01)
        serving = asyncio.ensure_future(worker.run(until_idle=True))
        try:
            for _ in range(200):  # until the worker can hold no more runs
                await asyncio.sleep(0.01)
                if store.held == 4:
                    break
            await asyncio.sleep(0.05)
            # The first two runs wait for their sync; two more executed meanwhile, and
            # wait for the next one; nothing else may be claimed until a sync ends.
            assert (len(executed), store.held) == (4, 4)
        finally:
            store.gate.set()
            await serving
        return [(await client.get(run_id)).status for run_id in ids]

    assert asyncio.run(scenario()) == ["completed"] * 10
    assert sorted(executed) == list(range(10))
    assert store.most_held == 4
