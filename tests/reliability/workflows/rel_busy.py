"""Workflows for the concurrency test (tests/reliability/test_concurrency.py).

Every task body holds its run's exclusive marker while it executes (`tests/probe.py`), so two
processes executing one run at the same time leave a line in the probe's `overlaps`.

    rel-busy@1.0.0       three short tasks in a row
    rel-inbox@1.0.0      task, wait for "ping", wait 0.5 s more for a second "ping" (none
                         must come: each send's reference id is the run's key), task;
                         returns both
    rel-slowpoke@1.0.0   six 0.15 s tasks with a 0.2 s durable sleep halfway: time for a
                         cancel to land while it runs, sleeps or waits for a worker
    rel-gated@1.0.0      one task that blocks until the test creates a gate file
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiki_cli import Run, task, workflow
from tests import probe

work = task(name="rel-busy-work", exec=probe.work)
work_async = task(name="rel-busy-work-async", exec=probe.work_async)


def call(key: str, name: str, seconds: float) -> dict[str, Any]:
    return {"key": key, "call": name, "work": seconds, "exclusive": True}


busy = workflow(name="rel-busy")


@busy.v("1.0.0")
async def busy_v1(input: dict[str, Any], run: Run) -> str:
    key = input["key"]
    await work.start(run, call(key, "busy-1", 0.002))
    await work_async.start(run, call(key, "busy-2", 0.002))
    await work.start(run, call(key, "busy-3", 0.002))
    return key


inbox = workflow(name="rel-inbox")


@inbox.v("1.0.0")
async def inbox_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    key = input["key"]
    await work.start(run, call(key, "inbox-1", 0.002))
    first = await run.wait_for_event("ping")
    second = await run.wait_for_event("ping", timeout=0.5)
    await work_async.start(run, call(key, "inbox-2", 0.002))
    return {"key": key, "got": first.data, "extra": second.data if second.received else None}


slowpoke = workflow(name="rel-slowpoke")


@slowpoke.v("1.0.0")
async def slowpoke_v1(input: dict[str, Any], run: Run) -> str:
    key = input["key"]
    for n in range(1, 7):
        await work.start(run, call(key, f"slow-{n}", 0.15))
        if n == 3:
            await run.sleep("halfway", 0.2)
    return key


@task(name="rel-gate")
def gate(input: dict[str, Any]) -> str:
    """Record that it runs, then block until the gate file exists (a minute at most)."""
    probe.work({"key": input["key"], "call": "gate"})
    deadline = time.monotonic() + 60
    while not Path(input["gate"]).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return "through"


gated = workflow(name="rel-gated")


@gated.v("1.0.0")
async def gated_v1(input: dict[str, Any], run: Run) -> str:
    """One task, held at a gate: the last task of the run is in flight until the test
    opens it."""
    return await gate.start(run, input)
