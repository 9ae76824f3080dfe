"""Workflows that leave runs in every status, for the front door's tests
(`tests/e2e/test_front_door.py`): each input's `kind` says where its run stops."""

from __future__ import annotations

from typing import Any

from aiki_cli import Run, retry, task, workflow


@task(name="echo")
def echo(value: Any) -> Any:
    return value


@task(name="always-fails", retry=retry.fixed(2, delay=0.0))
def always_fails(value: Any) -> Any:
    raise ValueError(f"no good: {value!r} — ünïcode")


@task(name="fails-later", retry=retry.fixed(3, delay=3600.0))
def fails_later(value: Any) -> Any:
    raise ConnectionError("service away; tried again in an hour")


child = workflow(name="door-child")


@child.v("1.0.0")
async def child_v1(input: Any, run: Run) -> Any:
    await run.sleep("child-nap", 3600)
    return input


flow = workflow(name="door-flow")


@flow.v("1.0.0")
async def flow_v1(input: dict[str, Any], run: Run) -> Any:
    kind = input["kind"]
    run.progress("begun", 0.25)
    first = await echo.start(run, {"n": 1})
    if kind == "many":  # more tasks than `status` shows without --all
        return len([await echo.start(run, n) for n in range(25)])
    if kind == "ok":
        return {"first": first, "text": "fertig ✓", "pi": 3.14159, "big": 10**30}
    if kind == "fail":
        return await always_fails.start(run, input)
    if kind == "retrywait":
        return await fails_later.start(run, input)
    if kind == "sleep":
        await run.sleep("nap", 3600)
    elif kind == "event":
        await run.wait_for_event("go", timeout=3600)
    elif kind == "child":
        await (await child_v1.start(run, {"from": "parent"})).wait_for_completion()
    return None


WORKFLOWS = [flow_v1, child_v1]
