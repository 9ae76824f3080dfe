"""Workflows of the kill-window tests (`test_kill_windows.py`): each execution of the
task body appends one line to the counter file its input names (through `open`, which
the kill points of `killpoint.py` do not count), so the test counts executions exactly."""

from __future__ import annotations

from typing import Any

from aiki_cli import Run, task, workflow


@task(name="win-count")
def count(input: dict[str, Any]) -> str:
    with open(input["counter"], "a") as counter:
        counter.write(f"{input.get('tag', '-')}\n")
    return str(input.get("tag", "-"))


win = workflow(name="win")


@win.v("1.0.0")
async def once(input: dict[str, Any], run: Run) -> str:
    return await count.start(run, input)


@win.v("2.0.0")
async def on_event(input: dict[str, Any], run: Run) -> str:
    event = await run.wait_for_event("go")
    return await count.start(run, {**input, "tag": event.data})
