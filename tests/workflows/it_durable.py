"""Workflows for the integration tier: every task body reports each execution through
`tests/probe.py`, keyed by the `key` in the run's input, so a test can count what ran.

    it-steps@1.0.0    step-one → step-two → slow-step (blocks until "go") → step-four
    it-crash@1.0.0    before-crash → crash (SIGKILLs its own worker, every time)
    it-shared@1.0.0   gate (blocks until "go") → shared-two → shared-three, each holding
                      the run's exclusive marker while it executes
    it-solo@1.0.0     long-step (a plain function blocking until "go", reporting any other
                      live process executing it at the same time) → after-long
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from aiki_cli import Run, task, workflow
from tests import probe

# -- it-steps: a slow task in the middle, for killing a worker while it is in flight ----


@task(name="step-one")
def step_one(input: dict[str, Any]) -> dict[str, Any]:
    probe.record(input["key"], "step-one")
    return {"one": 1}


@task(name="step-two")
def step_two(input: dict[str, Any]) -> dict[str, Any]:
    probe.record(input["key"], "step-two")
    return {"two": input["one"] + 1}


@task(name="slow-step")
def slow_step(input: dict[str, Any]) -> dict[str, Any]:
    probe.record(input["key"], "slow-step")
    probe.wait_for_go()
    return {"slow": input["two"] + 1}


@task(name="step-four")
def step_four(input: dict[str, Any]) -> dict[str, Any]:
    probe.record(input["key"], "step-four")
    return {"four": input["slow"] + 1}


steps = workflow(name="it-steps")


@steps.v("1.0.0")
async def steps_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    key = input["key"]
    one = await step_one.start(run, {"key": key})
    two = await step_two.start(run, {"key": key, **one})
    slow = await slow_step.start(run, {"key": key, **two})
    four = await step_four.start(run, {"key": key, **slow})
    return {"key": key, **one, **two, **slow, **four}


# -- it-crash: a task that takes its worker down with it, every time -----------------------


@task(name="before-crash")
def before_crash(input: dict[str, Any]) -> dict[str, Any]:
    probe.record(input["key"], "before-crash")
    return {"ok": True}


@task(name="crash")
def crash(input: dict[str, Any]) -> None:
    probe.record(input["key"], "crash")
    os.kill(os.getpid(), signal.SIGKILL)


crashing = workflow(name="it-crash")


@crashing.v("1.0.0")
async def crashing_v1(input: dict[str, Any], run: Run) -> None:
    await before_crash.start(run, {"key": input["key"]})
    await crash.start(run, {"key": input["key"]})


# -- it-shared: many runs for several workers on one store --------------------------------


@task(name="gate")
def gate(input: dict[str, Any]) -> str:
    with probe.exclusive(input["key"], "gate"):
        probe.record(input["key"], "gate")
        probe.wait_for_go()
    return "open"


@task(name="shared-two")
def shared_two(input: dict[str, Any]) -> str:
    with probe.exclusive(input["key"], "shared-two"):
        probe.record(input["key"], "shared-two")
        time.sleep(0.002)  # widen the window in which a second executor would collide
    return "two"


@task(name="shared-three")
def shared_three(input: dict[str, Any]) -> str:
    with probe.exclusive(input["key"], "shared-three"):
        probe.record(input["key"], "shared-three")
        time.sleep(0.002)
    return "three"


shared = workflow(name="it-shared")


@shared.v("1.0.0")
async def shared_v1(input: dict[str, Any], run: Run) -> list[str]:
    key = input["key"]
    return [
        await gate.start(run, {"key": key}),
        await shared_two.start(run, {"key": key}),
        await shared_three.start(run, {"key": key}),
    ]


# -- it-solo: a plain-function task that says if two processes execute it at once --------


@task(name="long-step")
def long_step(input: dict[str, Any]) -> str:
    with probe.solo(input["key"], "long-step"):
        probe.record(input["key"], "long-step")
        probe.wait_for_go()
    return "long"


@task(name="after-long")
def after_long(input: dict[str, Any]) -> str:
    probe.record(input["key"], "after-long")
    return "after"


solo = workflow(name="it-solo")


@solo.v("1.0.0")
async def solo_v1(input: dict[str, Any], run: Run) -> list[str]:
    key = input["key"]
    return [await long_step.start(run, {"key": key}), await after_long.start(run, {"key": key})]
