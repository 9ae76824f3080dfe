"""The workflows the kill-point sweep (tests/reliability/test_killpoints.py) acts on.

    kp-quick@1.0.0    one task: what `start` and schedules start
    kp-napper@1.0.0   a task, a one-hour durable sleep, a task
    kp-waiter@1.0.0   a task, waits for the event "go", a task
    kp-parent@1.0.0   a task, one kp-napper child awaited, a task (a cancelled child is
                      caught: the parent goes on, so a stranded parent shows)
    kp-family@1.0.0   a task, two kp-napper children awaited together, a task
    kp-flaky@1.0.0    a task, then a task that fails until the file its input names exists

Every task body appends "<key> <call>" to the file `AIKI_KP_PROBE` names, with O_APPEND in
one `write`, so the sweep counts every execution, whichever process ran it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiki_cli import Run, task, workflow
from aiki_cli.errors import AikiError

PROBE = "AIKI_KP_PROBE"


def _record(input: dict[str, Any]) -> dict[str, Any]:
    probe = os.environ.get(PROBE)
    if probe:
        fd = os.open(probe, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{input['key']} {input['call']}\n".encode())
        finally:
            os.close(fd)
    return {"key": input["key"], "call": input["call"]}


@task(name="kp-step")
def step(input: dict[str, Any]) -> dict[str, Any]:
    if input.get("unless") and not Path(input["unless"]).exists():
        _record(input)
        raise RuntimeError(f"{input['unless']} does not exist yet")
    return _record(input)


def call(input: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    return {"key": input.get("key", "kp"), "call": name, **extra}


@workflow(name="kp-quick").v("1.0.0")
async def quick_v1(input: dict[str, Any], run: Run) -> Any:
    return await step.start(run, call(input, f"quick-{run.id}"))


@workflow(name="kp-napper").v("1.0.0")
async def napper_v1(input: dict[str, Any], run: Run) -> Any:
    await step.start(run, call(input, "nap-1"))
    await run.sleep("nap", "1h")
    return await step.start(run, call(input, "nap-2"))


@workflow(name="kp-waiter").v("1.0.0")
async def waiter_v1(input: dict[str, Any], run: Run) -> Any:
    await step.start(run, call(input, "wait-1"))
    got = await run.wait_for_event("go")
    return await step.start(run, call(input, "wait-2", data=got.data))


@workflow(name="kp-parent").v("1.0.0")
async def parent_v1(input: dict[str, Any], run: Run) -> Any:
    await step.start(run, call(input, "parent-1"))
    child = await napper_v1.start(run, {"key": f"{input['key']}.c"})
    try:
        outcome = await child.wait_for_completion()
    except AikiError as error:
        outcome = type(error).__name__
    await step.start(run, call(input, "parent-2"))
    return outcome


@workflow(name="kp-family").v("1.0.0")
async def family_v1(input: dict[str, Any], run: Run) -> Any:
    await step.start(run, call(input, "family-1"))
    children = [await napper_v1.start(run, {"key": f"{input['key']}.c{n}"}) for n in range(2)]
    results = await asyncio.gather(*(child.wait_for_completion() for child in children))
    return await step.start(run, call(input, "family-2", children=len(results)))


@workflow(name="kp-flaky").v("1.0.0")
async def flaky_v1(input: dict[str, Any], run: Run) -> Any:
    await step.start(run, call(input, "flaky-1"))
    return await step.start(run, call(input, "flaky-2", unless=input["fixed"]))
