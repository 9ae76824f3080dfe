"""Workflows the end-to-end tests start through the `aiki` command.

Loaded by file path from `--workflows-dir tests/e2e/workflows`, so this module imports
nothing from the test package. Each workflow is the smallest one that drives the CLI to
one outcome: completed, failed, cancelled while running, or still running at a timeout.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from aiki_cli import Run, task, workflow

# A gated task gives up after this long, so a test that never opens the gate cannot hang.
GATE_LIMIT = 30.0


class Order(BaseModel):
    """A typed input: `start` refuses anything else with exit code 2."""

    sku: str
    quantity: int = Field(gt=0)


@task(name="double")
def double(input: dict[str, Any]) -> dict[str, Any]:
    return {"n": input["n"] * 2}


@task(name="shout")
async def shout(input: dict[str, Any]) -> str:
    return f"{input['word'].upper()}!"


@task(name="explode")
def explode(input: dict[str, Any]) -> None:
    raise ValueError(f"kaboom {input['n']}")


@task(name="reserve", input=Order)
def reserve(order: Order) -> dict[str, Any]:
    return {"reserved": order.quantity, "sku": order.sku}


@task(name="wait-for-gate")
async def wait_for_gate(input: dict[str, str]) -> str:
    """Announce that it runs, then block until the test creates the gate file."""
    Path(input["started"]).write_text("started")
    gate = Path(input["gate"])
    deadline = time.monotonic() + GATE_LIMIT
    while not gate.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {gate} never opened")
        await asyncio.sleep(0.02)
    return "opened"


@task(name="after-gate")
def after_gate(input: str) -> str:
    return f"after {input}"


@task(name="nap")
async def nap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


echo = workflow(name="e2e-echo")


@echo.v("1.0.0")
async def echo_v1(input: dict[str, Any] | None, run: Run) -> dict[str, Any]:
    """Double a number and shout a word: two tasks, one sync and one async."""
    input = input or {}
    doubled = await double.start(run, {"n": input.get("n", 1)})
    word = await shout.start(run, {"word": input.get("word", "hi")})
    return {"doubled": doubled["n"], "word": word}


@echo.v("2.0.0")
async def echo_v2(input: dict[str, Any] | None, run: Run) -> dict[str, Any]:
    input = input or {}
    doubled = await double.start(run, {"n": input.get("n", 1)})
    return {"doubled": doubled["n"], "version": 2}


@workflow(name="e2e-boom").v("1.0.0")
async def boom_v1(input: dict[str, Any] | None, run: Run) -> None:
    await explode.start(run, {"n": (input or {}).get("n", 7)})


@workflow(name="e2e-typed").v("1.0.0", input=Order)
async def typed_v1(input: Order, run: Run) -> dict[str, Any]:
    return await reserve.start(run, input)


@workflow(name="e2e-gated").v("1.0.0")
async def gated_v1(input: dict[str, str], run: Run) -> str:
    """A run that stays running until the test lets it go, then runs one more task."""
    opened = await wait_for_gate.start(run, input)
    return await after_gate.start(run, opened)


@workflow(name="e2e-slow").v("1.0.0")
async def slow_v1(input: dict[str, Any] | None, run: Run) -> float:
    return await nap.start(run, float((input or {}).get("seconds", 30)))


@task(name="block-in-thread")
def block_in_thread(input: dict[str, str]) -> str:
    """A plain function (so it runs in a thread) that blocks until the gate opens."""
    Path(input["started"]).touch()
    deadline = time.monotonic() + GATE_LIMIT
    while not Path(input["gate"]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    Path(input["started"]).with_name("finished").touch()
    return "done"


@workflow(name="e2e-gated-sync").v("1.0.0")
async def gated_sync_v1(input: dict[str, str], run: Run) -> str:
    return await block_in_thread.start(run, input)
