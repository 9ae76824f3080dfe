"""`waiting_for`: what a parked run waits for, as the real engine journals each kind of
wait (in-memory store, manual clock), in `RunInfo` and in the JSON documents."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiki_cli import Run, RunStatus, retry, task, workflow
from aiki_cli.testing import START, Harness

parked = workflow(name="parked")
child_flow = workflow(name="parked-child")
ATTEMPTS: dict[str, int] = {}


@task(name="unreliable", retry=retry.fixed(3, delay=60))
def unreliable(input: dict[str, Any]) -> str:
    ATTEMPTS[input["key"]] = ATTEMPTS.get(input["key"], 0) + 1
    raise ConnectionError("down")


@child_flow.v("1.0.0")
async def child_v1(input: Any, run: Run) -> str:
    await run.sleep("child-nap", "1h")
    return "done"


@parked.v("1.0.0")
async def parked_v1(input: dict[str, Any], run: Run) -> Any:
    kind = input["kind"]
    if kind == "sleep":
        await run.sleep("cool-off", "1h")
        await run.sleep("second", "2h")
    elif kind == "event":
        await run.wait_for_event("approved", timeout="7d")
        await run.wait_for_event("shipped")
    elif kind == "child":
        return await (await child_v1.start(run, None)).wait_for_completion()
    elif kind == "retry":
        return await unreliable.start(run, {"key": input["key"]})
    return kind


@workflow(name="parked-retry").v("1.0.0", retry=retry.fixed(2, delay=300))
async def workflow_retry_v1(input: Any, run: Run) -> None:
    raise RuntimeError("not yet")


def state(kind: str, advance: str = "1s", **start: Any) -> tuple[Harness, Any]:
    async def scenario() -> tuple[Harness, Any]:
        harness = Harness([parked, child_flow, workflow_retry_v1])
        handle = await harness.start(parked_v1, {"kind": kind, "key": kind}, **start)
        await harness.advance(advance)
        return harness, await handle.get_status()

    return asyncio.run(scenario())


def test_a_sleeping_run_waits_for_its_named_sleep_until_it_is_due() -> None:
    _, info = state("sleep")
    assert info.status == RunStatus.SLEEPING
    wait = info.waiting_for
    assert (wait.kind, wait.name, wait.due) == ("sleep", "cool-off", START + timedelta(hours=1))


def test_the_next_sleep_replaces_the_one_that_ended() -> None:
    _, info = state("sleep", advance="61m")
    assert (info.waiting_for.name, info.waiting_for.due) == (
        "second",
        START + timedelta(minutes=60, hours=2),
    )


def test_a_run_awaiting_an_event_names_the_event_to_send() -> None:
    _, info = state("event")
    assert info.status == RunStatus.AWAITING_EVENT
    wait = info.waiting_for
    assert (wait.kind, wait.name, wait.due) == ("event", "approved", START + timedelta(days=7))


def test_an_event_received_moves_the_wait_on_to_the_next_event() -> None:
    async def scenario() -> Any:
        harness = Harness([parked])
        handle = await harness.start(parked_v1, {"kind": "event", "key": "e"})
        await harness.advance("1s")
        await harness.send(handle, "approved", {"by": "ada"})
        await harness.advance("1s")
        return await handle.get_status()

    info = asyncio.run(scenario())
    assert (info.status, info.waiting_for.kind, info.waiting_for.name) == (
        RunStatus.AWAITING_EVENT,
        "event",
        "shipped",
    )
    assert info.waiting_for.due is None  # no timeout


def test_a_run_awaiting_its_child_names_the_child_run() -> None:
    _, info = state("child")
    assert info.status == RunStatus.AWAITING_CHILD
    assert info.waiting_for.kind == "child"
    assert info.waiting_for.child == info.children[0]


def test_a_run_awaiting_a_task_retry_names_the_task_and_when_it_is_due() -> None:
    _, info = state("retry")
    assert info.status == RunStatus.AWAITING_RETRY
    wait = info.waiting_for
    assert (wait.kind, wait.name, wait.due) == ("retry", "unreliable", info.due_at)
    assert wait.due == START + timedelta(seconds=60)


def test_a_run_awaiting_its_own_retry_says_when() -> None:
    async def scenario() -> Any:
        harness = Harness([workflow_retry_v1])
        handle = await harness.start(workflow_retry_v1, None)
        await harness.advance("1s")
        return await handle.get_status()

    info = asyncio.run(scenario())
    assert info.status == RunStatus.AWAITING_RETRY
    wait = info.waiting_for
    assert (wait.kind, wait.name, wait.due) == ("retry", None, START + timedelta(seconds=300))


def test_a_delayed_run_waits_for_its_start() -> None:
    _, info = state("none", delay="5m")
    assert info.status == RunStatus.PENDING
    assert (info.waiting_for.kind, info.waiting_for.due) == (
        "start",
        START + timedelta(minutes=5),
    )


def test_a_run_that_waits_for_nothing_has_no_waiting_for_in_either_document() -> None:
    _, info = state("none")
    assert info.status == RunStatus.COMPLETED
    assert info.waiting_for is None
    assert info.document()["waiting_for"] is None
    assert info.document(full=False)["waiting_for"] is None


def test_the_documents_carry_waiting_for_as_json() -> None:
    _, info = state("event")
    expected = {"kind": "event", "name": "approved", "due": "2026-01-08T00:00:00Z", "child": None}
    assert info.document()["waiting_for"] == expected
    assert info.document(full=False)["waiting_for"] == expected
