"""Workflows for the tests of what `status`, `list` and `history` show: many tasks, a
task failing until it is retried, a failing task with a traceback, a long name, and runs
parked on a sleep or an event.

A folder of its own (`tests/e2e/views_workflows`), passed as the workflows directory by
the tests that use it; loaded by file path, so it imports nothing from the test package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiki_cli import Run, task, workflow


@task(name="step")
def step(n: int) -> int:
    return n


@task(name="flaky")
def flaky(input: dict[str, Any]) -> str:
    """Fails until its marker file holds `fail_times` lines, one written per attempt."""
    marker = Path(input["marker"])
    with marker.open("a") as tries:
        tries.write("x\n")
    if len(marker.read_text().splitlines()) <= input["fail_times"]:
        raise ConnectionError("flaky service did not answer")
    return "ok"


def _lookup(order: dict[str, Any]) -> Any:
    return order["orderData"]


@task(name="read-order")
def read_order(input: dict[str, Any]) -> Any:
    return _lookup(input)


@workflow(name="e2e-many").v("1.0.0")
async def many_v1(input: dict[str, Any], run: Run) -> int:
    total = 0
    for n in range(input["tasks"]):
        total += await step.start(run, n)
    return total


@workflow(name="e2e-flaky").v("1.0.0")
async def flaky_v1(input: dict[str, Any], run: Run) -> str:
    return await flaky.start(run, input)


@workflow(name="e2e-keyerror").v("1.0.0")
async def keyerror_v1(input: dict[str, Any], run: Run) -> Any:
    return await read_order.start(run, {"order": 1})


@workflow(name="e2e-order-processing").v("10.20.30")
async def long_name_v1(input: dict[str, Any], run: Run) -> int:
    return await step.start(run, 1)


@workflow(name="e2e-parked").v("1.0.0")
async def parked_v1(input: dict[str, Any], run: Run) -> Any:
    kind = input["kind"]
    if kind == "sleep":
        await run.sleep("cool-off", "1h")
    elif kind == "event":
        await run.wait_for_event("approved", timeout="7d")
    return kind
