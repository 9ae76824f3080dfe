"""Whatever a task or a workflow raises is its own failure (issue 16.2).

`asyncio.CancelledError`, `GeneratorExit`, a `BaseException` of the code's own,
`SystemExit` (`sys.exit`) and `KeyboardInterrupt` raised by a task body, sync or async,
fail the attempt: journaled, retried by the task's policy, never taken for the worker
stopping (which re-ran the task for ever) nor let out of the event loop (which ended the
worker with the task's exit code). Counters prove how often each body executed: a body
that has run more often than it should gives up raising, so a regression fails the
assertions instead of looping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, RunStatus, Task, Worker, retry, task, workflow
from aiki_cli.engine.execution import RELEASE, Engine
from aiki_cli.testing import Harness, ManualClock

GIVE_UP = 5  # executions after which a body stops raising: the test has failed by then


class Bail(BaseException):
    """A workflow's own `BaseException`."""


KINDS: dict[str, Callable[[], BaseException]] = {
    "CancelledError": asyncio.CancelledError,
    "GeneratorExit": GeneratorExit,
    "Bail": Bail,
    "SystemExit": lambda: SystemExit(0),
    "KeyboardInterrupt": KeyboardInterrupt,
}


def raising(kind: str, style: str, calls: list[str]) -> Callable[[Any], Any]:
    """A body that raises `kind`: a plain function (in a thread), a coroutine raising at
    once, or one raising after it has waited (in an asyncio task of its own)."""

    def fail() -> str:
        calls.append(kind)
        if len(calls) > GIVE_UP:
            return "gave up raising"
        raise KINDS[kind]()

    def plain(value: Any) -> str:
        return fail()

    async def at_once(value: Any) -> str:
        return fail()

    async def after_waiting(value: Any) -> str:
        await asyncio.sleep(0)
        return fail()

    return {"sync": plain, "async": at_once, "async-waited": after_waiting}[style]


def run_to_end(body: Task) -> tuple[Any, list[Any]]:
    """Run a one-task workflow over `body` until nothing is left; its status and journal."""
    flow = workflow(name="raises")

    @flow.v("1.0.0")
    async def v1(input: Any, run: Run) -> Any:
        return await body.start(run, None)

    async def scenario() -> tuple[Any, list[Any]]:
        harness = Harness([flow])
        handle = await harness.start(v1)
        await harness.run_until_idle()
        return await handle.get_status(), await harness.client.history(handle.id)

    return asyncio.run(scenario())


@pytest.mark.parametrize("style", ["sync", "async", "async-waited"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_what_a_task_raises_fails_its_attempt_and_is_retried_by_policy(
    kind: str, style: str
) -> None:
    calls: list[str] = []
    body = task(name="raiser", exec=raising(kind, style, calls), retry=retry.fixed(2, 0.5))

    info, journal = run_to_end(body)

    assert len(calls) == 2, "one attempt, and one retry by the task's policy"
    assert info.status == RunStatus.FAILED
    assert info.error.type == "TaskFailed"
    assert info.error.message.startswith(f"task 'raiser' failed: {kind}")
    failures = [entry for entry in journal if entry.type == "task_failed"]
    assert [(f.attempt, f.error.type) for f in failures] == [(1, kind), (2, kind)]
    assert [entry.new for entry in journal if entry.type == "status"] == ["running", "failed"]


@pytest.mark.parametrize("waited", [False, True], ids=["at-once", "after-waiting"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_what_workflow_code_raises_outside_tasks_fails_the_run(kind: str, waited: bool) -> None:
    calls: list[str] = []
    flow = workflow(name="raises")

    @flow.v("1.0.0", retry=retry.fixed(2, 0.5))
    async def v1(input: Any, run: Run) -> Any:
        if waited:
            await asyncio.sleep(0)  # from here on, the code runs in an asyncio task
        calls.append(kind)
        if len(calls) > GIVE_UP:
            return "gave up raising"
        raise KINDS[kind]()

    async def scenario() -> tuple[Any, list[Any]]:
        harness = Harness([flow])
        handle = await harness.start(v1)
        await harness.run_until_idle()
        return await handle.get_status(), await harness.client.history(handle.id)

    info, journal = asyncio.run(scenario())

    assert len(calls) == 2, "one attempt, and one retry by the workflow's policy"
    assert info.status == RunStatus.FAILED
    assert info.error.type == kind
    assert [(e.new, e.error.type if e.error else None) for e in journal if e.type == "status"] == [
        ("running", None),
        ("awaiting_retry", kind),
        ("running", None),
        ("failed", kind),
    ]


@pytest.mark.parametrize(
    ("message", "status", "recoveries"),
    [(RELEASE, "pending", 0), (None, "running", 1)],
    ids=["by-the-worker", "not-by-the-worker"],
)
def test_a_cancellation_not_by_the_worker_leaves_the_run_to_be_recovered(
    clock: ManualClock, message: str | None, status: str, recoveries: int
) -> None:
    """A worker hands a run back with its own cancellation (`RELEASE`): the run is
    pending again and nobody died. Any other cancellation of an execution is the process
    going down (asyncio cancels every task when its loop ends, whatever ended it): the run
    stays `running`, and whoever takes it over counts a recovery."""
    client = Client(MemoryStore(), clock=clock)
    started = asyncio.Event()

    async def hang(value: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    hanging = task(name="hang", exec=hang)
    flow = workflow(name="stops")

    @flow.v("1.0.0")
    async def v1(input: Any, run: Run) -> Any:
        return await hanging.start(run, None)

    async def execute_then_cancel(run_id: str) -> None:
        engine = Engine({v1.ref: v1}, client.store, clock=clock, worker_id="first")
        claim = client.store.claim(run_id)
        assert claim is not None
        execution = asyncio.ensure_future(engine.execute(claim))
        await started.wait()
        execution.cancel(message)
        with pytest.raises(asyncio.CancelledError):
            await execution
        claim.release()

    run_id = client.create(v1, None).id
    asyncio.run(execute_then_cancel(run_id))
    assert asyncio.run(client.get(run_id)).status == status

    hanging.exec = _returns_none
    asyncio.run(Worker(client, [v1], poll_interval=0.01).run(until_idle=True))
    info = asyncio.run(client.get(run_id))
    assert (info.status, info.recoveries) == (RunStatus.COMPLETED, recoveries)


async def _returns_none(value: Any) -> None:
    return None
