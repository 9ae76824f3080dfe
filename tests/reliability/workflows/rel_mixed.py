"""Mixed workflows for the kill -9 soak (tests/reliability/test_kill_soak.py).

Every task body goes through `tests/probe.py`, which records each execution's start and end
under the run's `key` and the call's name, so the test can match executions against the
journals. Every call of a run has its own input, hence its own content address.

    rel-seq@1.0.0      five tasks in a row, plain functions and coroutines alternating
    rel-fan@1.0.0      a head task, four tasks at once (asyncio.gather), a tail task
    rel-nap@1.0.0      task, durable sleep, task, durable sleep, task
    rel-event@1.0.0    task, wait for the event "signal", task; returns the event's data
    rel-parent@1.0.0   task, two child runs of rel-child@1.0.0 awaited together, task
    rel-child@1.0.0    two tasks with a durable sleep between them
    rel-solo@1.0.0     one child run of rel-child@1.0.0, awaited; returns its result
    rel-doomed@1.0.0   a task, then a task that always raises: the run must end failed
    rel-tick@1.0.0     two tasks: what the soak's schedule starts (the run's id is its key,
                       since every run of a schedule has the same input)
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiki_cli import Run, task, workflow
from tests import probe

work = task(name="rel-work", exec=probe.work)
work_async = task(name="rel-work-async", exec=probe.work_async)


def call(input: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    """The input of one task call of the run whose input is `input`."""
    return {"key": input["key"], "call": name, "work": input.get("work", 0.0), **extra}


def calls(results: list[dict[str, Any]]) -> list[str]:
    return [result["call"] for result in results]


seq = workflow(name="rel-seq")


@seq.v("1.0.0")
async def seq_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    done = []
    for n in range(1, 6):
        step = work if n % 2 else work_async
        done.append(await step.start(run, call(input, f"seq-{n}")))
    return {"key": input["key"], "calls": calls(done)}


fan = workflow(name="rel-fan")


@fan.v("1.0.0")
async def fan_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    head = await work.start(run, call(input, "fan-head"))
    branches = await asyncio.gather(
        *((work if n % 2 else work_async).start(run, call(input, f"fan-{n}")) for n in range(4))
    )
    tail = await work_async.start(run, call(input, "fan-tail"))
    return {"key": input["key"], "calls": calls([head, *branches, tail])}


nap = workflow(name="rel-nap")


@nap.v("1.0.0")
async def nap_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    first = await work.start(run, call(input, "nap-1"))
    await run.sleep("nap-a", input["nap"])
    second = await work_async.start(run, call(input, "nap-2"))
    await run.sleep("nap-b", input["nap"])
    third = await work.start(run, call(input, "nap-3"))
    return {"key": input["key"], "calls": calls([first, second, third])}


event = workflow(name="rel-event")


@event.v("1.0.0")
async def event_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    first = await work.start(run, call(input, "event-1"))
    signal = await run.wait_for_event("signal")
    second = await work_async.start(run, call(input, "event-2", got=signal.data))
    return {"key": input["key"], "calls": calls([first, second]), "got": signal.data}


child = workflow(name="rel-child")


@child.v("1.0.0")
async def child_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    first = await work_async.start(run, call(input, "child-1"))
    await run.sleep("child-nap", input["nap"])
    second = await work.start(run, call(input, "child-2"))
    return {"key": input["key"], "calls": calls([first, second])}


parent = workflow(name="rel-parent")


@parent.v("1.0.0")
async def parent_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    first = await work.start(run, call(input, "parent-1"))
    children = [
        await child_v1.start(run, {**input, "key": f"{input['key']}.c{n}"}) for n in range(2)
    ]
    results = await asyncio.gather(*(handle.wait_for_completion() for handle in children))
    last = await work_async.start(run, call(input, "parent-2"))
    return {
        "key": input["key"],
        "calls": calls([first, last]),
        "children": [result["key"] for result in results],
    }


solo = workflow(name="rel-solo")


@solo.v("1.0.0")
async def solo_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    handle = await child_v1.start(run, {**input, "key": f"{input['key']}.c0"})
    result: dict[str, Any] = await handle.wait_for_completion()
    return result


doomed = workflow(name="rel-doomed")


@doomed.v("1.0.0")
async def doomed_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    await work.start(run, call(input, "doomed-1"))
    await work.start(run, call(input, "doomed-boom", fail=True))
    raise AssertionError("unreachable: doomed-boom always raises")


tick = workflow(name="rel-tick")


@tick.v("1.0.0")
async def tick_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    keyed = {**input, "key": run.id}
    done = [
        await work.start(run, call(keyed, "tick-1")),
        await work_async.start(run, call(keyed, "tick-2")),
    ]
    return {"key": run.id, "calls": calls(done)}
