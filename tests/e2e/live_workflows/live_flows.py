"""Workflows that a test can watch mid-run: the live line, `--follow` and progress.

A `gate` task waits until the file named in its input exists, so the test decides when
the run moves on: after it has seen what a user would see while the task executes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aiki_cli import Run, task, workflow


@task(name="gate")
def gate(input: dict[str, Any]) -> int:
    """Returns once the file `input["open"]` exists (polled: a plain-function task)."""
    while not Path(input["open"]).exists():
        time.sleep(0.01)
    return int(input["n"])


@task(name="step")
async def step(n: int) -> int:
    return n


gated = workflow(name="gated")


@gated.v("1.0.0")
async def gated_v1(input: dict[str, Any], run: Run) -> int:
    """`before` quick steps, then the gate, then `after` quick steps; progress between."""
    total = 0
    for n in range(input.get("before", 0)):
        total += await step.start(run, n)
    run.progress("at the gate", 0.5)
    total += await gate.start(run, {"open": input["open"], "n": 100})
    for n in range(input.get("after", 0)):
        total += await step.start(run, 1000 + n)
    run.progress("through", 1.0)
    if input.get("fail"):
        raise RuntimeError("asked to fail")
    return total
