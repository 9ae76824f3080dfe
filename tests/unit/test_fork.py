"""`client.fork`: a new run reusing the results recorded before one task call, executing
from that call on. Execution counters prove what ran again; the stores prove what was
written (nothing on a dry run or a refusal, the source run never)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from aiki_cli import Run, WorkflowVersion, task, workflow
from aiki_cli.errors import BadInput, RunNotFound
from aiki_cli.model.runinfo import ForkOrigin
from aiki_cli.model.status import RunStatus
from aiki_cli.testing import Harness

executed: Counter[str] = Counter()


def counted(name: str) -> Any:
    def body(value: Any) -> Any:
        executed[name] += 1
        if value == "boom" and not fixed:
            raise ValueError("boom")
        return {name: value, "n": executed[name]}

    return task(name=name, exec=body)


fixed = True
prepare, step, ship = counted("prepare"), counted("step"), counted("ship")
flow = workflow(name="flow")


@flow.v("1.0.0")
async def flow_v1(input: dict[str, Any], run: Run) -> list[Any]:
    done = [await prepare.start(run, "always")]
    for item in input["items"]:
        done.append(await step.start(run, item))
    done.append(await ship.start(run, input.get("to", "home")))
    return done


@flow.v("2.0.0")
async def flow_v2(input: dict[str, Any], run: Run) -> list[Any]:
    done = [await prepare.start(run, "always")]
    done.append(await ship.start(run, "express"))
    return done


approval = workflow(name="approval")


@approval.v("1.0.0")
async def approval_v1(input: Any, run: Run) -> Any:
    await prepare.start(run, "always")
    answer = await run.wait_for_event("approved")
    await run.sleep("cool-off", "1h")
    return await ship.start(run, answer.data)


@pytest.fixture(autouse=True)
def fresh() -> None:
    global fixed
    executed.clear()
    fixed = True


def harness() -> Harness:
    return Harness([flow, approval])


async def finished(h: Harness, version: WorkflowVersion, input: Any) -> str:
    handle = await h.start(version, input)
    await h.run_until_idle()
    return handle.id


def test_a_fork_reuses_the_calls_before_the_chosen_one_and_executes_from_it() -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": [1, 2, 3]})
        before = h.store.read_run(source)
        executed.clear()

        plan = await h.client.fork(source, "step", 2, code=flow_v1)
        await h.run_until_idle()

        assert plan.run_id is not None and plan.run_id != source
        assert [(c.task, c.call, c.reused) for c in plan.calls] == [
            ("prepare", 1, True),
            ("step", 1, True),
            ("step", 2, False),
            ("step", 3, False),
            ("ship", 1, False),
        ]
        assert plan.then == "task 'step' would execute"
        assert executed == Counter(step=2, ship=1), "prepare and step#1 were reused"
        info = await h.client.get(plan.run_id)
        assert info.status == RunStatus.COMPLETED
        assert info.forked_from == ForkOrigin(run_id=source, task="step", call=2)
        assert info.document()["forked_from"] == {"run_id": source, "task": "step", "call": 2}
        listed = await h.client.list()
        assert listed[0].document(full=False)["forked_from"]["run_id"] == source
        assert "forked_from" not in listed[1].document(full=False)
        assert h.store.read_run(source) == before, "the source run is untouched"

    asyncio.run(scenario())


def test_the_nth_call_of_a_task_with_the_same_input_counts_by_occurrence() -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": [7, 7]})
        executed.clear()

        plan = await h.client.fork(source, "step", 2, code=flow_v1)
        await h.run_until_idle()

        assert [c.reused for c in plan.calls] == [True, True, False, False]
        assert executed == Counter(step=1, ship=1)
        assert plan.run_id is not None
        result = (await h.client.get(plan.run_id)).result
        assert [row.get("n") for row in result] == [1, 1, 1, 1], "step#2 ran anew, once"

    asyncio.run(scenario())


def test_a_new_input_changes_which_calls_are_reused() -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": [1, 2], "to": "home"})
        executed.clear()

        plan = await h.client.fork(
            source, "ship", code=flow_v1, input={"items": [1, 5], "to": "office"}
        )
        await h.run_until_idle()

        reused = {(c.task, c.call): c.reused for c in plan.calls}
        assert reused == {("prepare", 1): True, ("step", 1): True, ("step", 2): False,
                          ("ship", 1): False}  # fmt: skip
        assert executed == Counter(step=1, ship=1), "step(5) and ship(office) ran"
        assert plan.run_id is not None
        info = await h.client.get(plan.run_id)
        assert info.status == RunStatus.COMPLETED, "the fork does not diverge from its journal"
        assert info.input == {"items": [1, 5], "to": "office"}

    asyncio.run(scenario())


def test_a_changed_first_call_reuses_nothing_and_still_completes() -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": [1, 2]})
        executed.clear()

        plan = await h.client.fork(source, "ship", code=flow_v2)
        await h.run_until_idle()

        assert [(c.task, c.reused) for c in plan.calls] == [
            ("prepare", True),
            ("step", False),
            ("step", False),
            ("ship", False),
        ]
        assert plan.version == "2.0.0" and plan.run_id is not None
        info = await h.client.get(plan.run_id)
        assert (info.version, info.status) == ("2.0.0", RunStatus.COMPLETED)
        assert executed == Counter(ship=1)

    asyncio.run(scenario())


def test_a_dry_run_plans_and_writes_nothing() -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": [1, 2]})
        runs, executed_before = list(h.store.list_runs()), Counter(executed)

        plan = await h.client.fork(source, "step", 2, code=flow_v1, dry_run=True)

        assert plan.run_id is None
        assert [c.reused for c in plan.calls] == [True, True, False, False]
        assert list(h.store.list_runs()) == runs and h.store.ready_runs() == []
        assert executed == executed_before

    asyncio.run(scenario())


def test_a_failed_run_forks_from_its_failed_call_on_fixed_code() -> None:
    async def scenario() -> None:
        global fixed
        h = harness()
        fixed = False
        source = await finished(h, flow_v1, {"items": [1, "boom", 3]})
        assert (await h.client.get(source)).status == RunStatus.FAILED
        fixed = True
        executed.clear()

        plan = await h.client.fork(source, "step", 2, code=flow_v1)
        await h.run_until_idle()

        assert plan.run_id is not None
        assert (await h.client.get(plan.run_id)).status == RunStatus.COMPLETED
        assert executed == Counter(step=2, ship=1)

    asyncio.run(scenario())


def test_waits_that_ended_before_the_fork_point_are_not_waited_for_again() -> None:
    async def scenario() -> None:
        h = harness()
        handle = await h.start(approval_v1, None)
        await h.run_until_idle()
        await h.send(handle, "approved", "yes")
        await h.run_until_idle()
        assert (await handle.get_status()).status == RunStatus.COMPLETED
        executed.clear()

        plan = await h.client.fork(handle.id, "ship", code=approval_v1)
        assert plan.then == "task 'ship' would execute"
        assert plan.run_id is not None
        await h.worker.run(until_idle=True)  # no clock moved, no event sent

        info = await h.client.get(plan.run_id)
        assert (info.status, info.result) == (RunStatus.COMPLETED, {"ship": "yes", "n": 1})

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("task_name", "call", "message"),
    [
        ("bogus", 1, "never called task 'bogus'; its tasks: prepare, step, ship"),
        ("step", 3, "called task 'step' 2 time(s); --from step#3 is beyond them"),
        ("step", 0, "--from step#0 is beyond them"),
    ],
)
def test_an_unknown_task_or_call_is_refused_in_one_line(
    task_name: str, call: int, message: str
) -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": [1, 2]})
        runs = list(h.store.list_runs())
        with pytest.raises(BadInput, match=message.replace("(", r"\(").replace(")", r"\)")):
            await h.client.fork(source, task_name, call, code=flow_v1)
        assert list(h.store.list_runs()) == runs

    asyncio.run(scenario())


def test_a_run_still_going_is_refused_unless_paused() -> None:
    async def scenario() -> None:
        h = harness()
        handle = await h.start(approval_v1, None)
        await h.run_until_idle()
        with pytest.raises(BadInput, match="is awaiting_event; fork a completed, failed"):
            await h.client.fork(handle.id, "prepare", code=approval_v1)
        await h.client.pause(handle.id)

        plan = await h.client.fork(handle.id, "prepare", code=approval_v1)

        assert plan.run_id is not None
        assert [c.reused for c in plan.calls] == [False]

    asyncio.run(scenario())


def test_an_unknown_run_is_not_found_and_another_workflow_is_refused() -> None:
    async def scenario() -> None:
        h = harness()
        source = await finished(h, flow_v1, {"items": []})
        with pytest.raises(RunNotFound):
            await h.client.fork("01m8xcramvjr1fxf82pebkh8yz", "ship", code=flow_v1)
        with pytest.raises(BadInput, match="is a run of flow, not of approval"):
            await h.client.fork(source, "ship", code=approval_v1)

    asyncio.run(scenario())
