"""A test kit for workflows: an in-memory store, a worker and a clock you control.

A test runs a workflow that sleeps a day or waits a week for an event in milliseconds:

    from aiki_cli.testing import Harness

    async def test_reminder():
        harness = Harness([reminder_workflow])
        handle = await harness.start(reminder_v1, {"user": "ada"})
        await harness.run_until_idle()             # runs, then skips the sleeps' time
        assert await handle.wait_for_completion() == {"reminded": True}

`run_until_idle()` executes whatever can run now, then moves the clock to the next due
time (a sleep's end, a retry, an event's timeout, a delayed start, a schedule) and goes
on, until nothing is left to do. `advance(duration)` does the same but stops the clock
after `duration`, which is how a test sends an event "two days later".
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .authoring.workflow import Workflow, WorkflowVersion
from .client import Client, RunHandle
from .engine.replay_check import ReplayReport
from .model.status import RunStatus
from .store import Store, open_store
from .values.duration import parse_duration
from .worker.loop import Worker, registry_of

START = datetime(2026, 1, 1, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told to (and when code sleeps on it)."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, duration: float | str | timedelta) -> None:
        self.current += parse_duration(duration)

    def set(self, moment: datetime) -> None:
        self.current = max(self.current, moment)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)


class Harness:
    """An in-memory store (or the one at `store`: a directory, say, to run the same test
    on the file store), a worker for `workflows`, and a `ManualClock`."""

    def __init__(
        self,
        workflows: Iterable[Workflow | WorkflowVersion],
        *,
        start: datetime = START,
        store: str | Path | Store = ":memory:",
    ) -> None:
        self.clock = ManualClock(start)
        self.store = open_store(store)
        self.client = Client(self.store, clock=self.clock)
        self.worker = Worker(self.client, list(workflows), poll_interval=0.001)

    async def start(self, version: WorkflowVersion, input: Any = None, **options: Any) -> RunHandle:
        """Start a run, as `version.start(client, ...)` would."""
        return await self.client.start(version, input, **options)

    async def send(
        self, handle: RunHandle, event: str, data: Any = None, *, reference_id: str | None = None
    ) -> bool:
        version = self.worker.registry.get(await self._ref(handle))
        return await self.client.send(
            handle.id, event, data, reference_id=reference_id, version=version
        )

    async def _ref(self, handle: RunHandle) -> str:
        info = await handle.get_status()
        return f"{info.workflow}@{info.version}"

    async def run_until_idle(self, *, max_steps: int = 10_000) -> None:
        """Run what can run; jump the clock to each next due time, until nothing is due."""
        await self._run(until=None, max_steps=max_steps)

    async def advance(self, duration: float | str | timedelta, *, max_steps: int = 10_000) -> None:
        """Like `run_until_idle`, but the clock moves on by `duration` at most."""
        await self._run(until=self.clock.now() + parse_duration(duration), max_steps=max_steps)

    async def _run(self, *, until: datetime | None, max_steps: int) -> None:
        for _ in range(max_steps):
            await self.worker.run(until_idle=True)
            due = self.store.next_due()
            if due is None or (until is not None and due > until):
                if until is not None and self.clock.now() < until:
                    self.clock.set(until)
                    continue
                return
            self.clock.set(due)
        raise RuntimeError(f"still busy after {max_steps} steps: does a workflow loop forever?")


def replay_check(
    workflows: Iterable[Workflow | WorkflowVersion],
    *,
    journals: Sequence[str | Path] = (),
    store: str | Path | Store | None = None,
    run_ids: Sequence[str] = (),
    statuses: Sequence[RunStatus] | None = None,
) -> list[ReplayReport]:
    """Replay runs against `workflows`, executing and writing nothing, as `aiki replay
    --check` does: the runs exported to `journals` (by `aiki export`), and those of
    `store` (`run_ids`, or else every unfinished one). From a test (not a coroutine):

        reports = replay_check([order_processing], journals=["tests/journals/order.json"])
        assert all(report.ok for report in reports), reports
    """
    client = Client(store if store is not None else ":memory:")
    found = client.replay_check(
        registry_of(workflows), run_ids, statuses=statuses, journals=journals
    )
    return asyncio.run(found)
