"""Workflows the dashboard's tests run: one that waits for a validated event, one that
takes steps one after another (its timeline grows), and one whose task fails twice."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from aiki_cli import Run, retry, task, workflow


class Go(BaseModel):
    ok: bool


@task(name="step")
async def step(input: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(input.get("pause", 0))
    return {"i": input["i"]}


@task(name="flaky", retry=retry.fixed(max_attempts=2, delay=0))
def flaky(input: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(f"flaky gave up on {input['what']}")


demo = workflow(name="ui-demo")


@demo.v("1.0.0", events={"go": Go})
async def demo_v1(input: Any, run: Run) -> dict[str, Any]:
    first = await step.start(run, {"i": 0})
    go = await run.wait_for_event("go")
    return {"first": first, "go": go.data.model_dump()}


steps = workflow(name="ui-steps")


@steps.v("1.0.0")
async def steps_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    for i in range(input["n"]):
        await step.start(run, {"i": i, "pause": input.get("pause", 0)})
    await run.wait_for_event("finish")
    return {"steps": input["n"]}


broken = workflow(name="ui-broken")


@broken.v("1.0.0")
async def broken_v1(input: Any, run: Run) -> dict[str, Any]:
    await flaky.start(run, {"what": "the demo"})
    return {}


nap = workflow(name="ui-nap")


@nap.v("1.0.0")
async def nap_v1(input: Any, run: Run) -> dict[str, Any]:
    await run.sleep("nap", "1h")
    return {"rested": True}


_tries: dict[str, int] = {}  # per order, in the worker's process


@task(name="validate-order")
def validate_order(input: dict[str, Any]) -> dict[str, Any]:
    return {"order": input["order"], "valid": True}


@task(name="charge-card", retry=retry.fixed(max_attempts=3, delay=0.2))
def charge_card(input: dict[str, Any]) -> dict[str, Any]:
    """Fails its first attempt for each order, as a flaky card network does."""
    _tries[input["order"]] = _tries.get(input["order"], 0) + 1
    if _tries[input["order"]] == 1:
        raise ConnectionError("the card network timed out")
    return {"charged": True}


@task(name="pack-item")
async def pack_item(input: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(input["pause"])
    return {"packed": input["item"]}


tour = workflow(name="ui-tour")


@tour.v("1.0.0")
async def tour_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """A bit of everything a waterfall shows: a task retried, a sleep, many tasks."""
    await validate_order.start(run, {"order": run.id})
    await charge_card.start(run, {"order": run.id})
    await run.sleep("cool-off", 0.3)
    for item in range(input["items"]):
        await pack_item.start(run, {"item": item, "pause": input["pause"]})
    await run.wait_for_event("finish")
    return {"items": input["items"]}
