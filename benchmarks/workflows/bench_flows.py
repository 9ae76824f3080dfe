"""The workflows the benchmarks run: no-op tasks, so what is measured is aiki itself.

Loaded in-process by the benchmark scripts and by `aiki worker --workflows-dir
benchmarks/workflows` in their worker processes.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiki_cli import Run, task, workflow


@task(name="noop")
async def noop(input: Any) -> Any:
    return input


@task(name="noop-sync")
def noop_sync(input: Any) -> Any:
    return input


@task(name="hold")
async def hold(input: dict[str, Any]) -> int:
    """Waits until the file `input["release"]` exists: the run is mid-task until then."""
    while not os.path.exists(input["release"]):
        await asyncio.sleep(0.005)
    return int(input["i"])


steps = workflow(name="bench-steps")


@steps.v("1.0.0")
async def steps_v1(input: dict[str, Any], run: Run) -> int:
    """`k` no-op tasks in a row (plain-function tasks, in the thread pool, with `sync`)."""
    step = noop_sync if input.get("sync") else noop
    for i in range(input["k"]):
        await step.start(run, i)
    return int(input["k"])


one = workflow(name="bench-one")


@one.v("1.0.0")
async def one_v1(input: Any, run: Run) -> Any:
    """A run of one no-op task: the unit of the throughput benchmark."""
    return await noop.start(run, input)


recovery = workflow(name="bench-recovery")


@recovery.v("1.0.0")
async def recovery_v1(input: dict[str, Any], run: Run) -> int:
    """`k` tasks; task number `hold_at` waits for the release file, so a worker can be
    killed in the middle of the run."""
    for i in range(input["k"]):
        if i == input["hold_at"]:
            await hold.start(run, {"i": i, "release": input["release"]})
        else:
            await noop.start(run, i)
    return int(input["k"])
