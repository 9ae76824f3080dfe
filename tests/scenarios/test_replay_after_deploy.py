"""The six replay cases of SPEC §3, driven by a real event wait and a deploy.

A run of `payout@1.0.0` charges, maybe notifies, then parks in `awaiting_event` for "go".
While it waits, new code ships under the same name@version (a new worker over the same
store and clock). The event is sent, and the run resumes by replaying its journal
against the new code:

- safe: reordering recorded tasks, removing one, appending a new one at the end — the run
  completes and no recorded task runs again;
- unsafe: inserting a task before a recorded one, changing a recorded task's input, or
  changing control flow so a recorded result is never asked for — the run fails with a
  DivergenceError naming the recorded results left over, before the new task runs.

(A recorded result stays unconsumed for the rest of the replay, so a removal is safe as
long as no new task is called after it; a new task then is taken as a divergence.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiki_cli import Run, RunHandle, RunInfo, RunStatus, task
from aiki_cli.authoring.workflow import WorkflowFn, WorkflowVersion
from aiki_cli.store import Store
from aiki_cli.testing import Harness
from aiki_cli.values.canonical import address

from .support import deploy, journal

executed: Counter[str] = Counter()
AMOUNT = 150


@task(name="charge")
def charge(amount: int) -> dict[str, Any]:
    executed["charge"] += 1
    return {"charged": amount}


@task(name="notify")
def notify(template: str) -> str:
    executed["notify"] += 1
    return f"sent {template}"


@task(name="fraud-check")
def fraud_check(amount: int) -> bool:
    executed["fraud-check"] += 1
    return True


@task(name="ship")
def ship(order: str) -> str:
    executed["ship"] += 1
    return f"shipped {order}"


async def deployed_first(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """The code the run started on."""
    charged = await charge.start(run, input["amount"])
    if input["amount"] > 100:
        await notify.start(run, "big-charge")
    go = await run.wait_for_event("go")
    return {**charged, "go": go.data}


async def parked_then_redeployed(code: WorkflowFn, store: Store) -> tuple[Harness, RunHandle]:
    """A run of the first code, parked on "go"; then `code` deployed and "go" sent."""
    executed.clear()
    harness = Harness([WorkflowVersion("payout", "1.0.0", deployed_first)], store=store)
    handle = await harness.start(harness.worker.registry["payout@1.0.0"], {"amount": AMOUNT})
    await harness.run_until_idle()
    assert (await handle.get_status()).status == RunStatus.AWAITING_EVENT
    assert executed == {"charge": 1, "notify": 1}

    deploy(harness, [WorkflowVersion("payout", "1.0.0", code)])
    assert await harness.send(handle, "go", "now")
    await harness.run_until_idle()
    return harness, handle


def resumed_with(code: WorkflowFn, store: Store) -> RunInfo:
    async def scenario() -> RunInfo:
        _, handle = await parked_then_redeployed(code, store)
        assert len(await journal(handle, "event_received")) == 1, "the event was delivered"
        return await handle.get_status()

    return asyncio.run(scenario())


def assert_diverged(info: RunInfo, new_task: str, *unconsumed: str) -> None:
    assert info.status == RunStatus.FAILED
    assert info.error is not None and info.error.type == "DivergenceError"
    assert f"the code calls task {new_task!r}" in info.error.message
    for recorded in unconsumed:
        assert recorded in info.error.message


# -- safe ------------------------------------------------------------------------------


def test_reordered_recorded_tasks_replay_and_the_run_completes(store: Store) -> None:
    async def reordered(input: dict[str, Any], run: Run) -> dict[str, Any]:
        await notify.start(run, "big-charge")
        charged = await charge.start(run, input["amount"])
        go = await run.wait_for_event("go")
        return {**charged, "go": go.data}

    info = resumed_with(reordered, store)

    assert info.status == RunStatus.COMPLETED
    assert info.result == {"charged": AMOUNT, "go": "now"}
    assert executed == {"charge": 1, "notify": 1}, "nothing ran again"


def test_a_removed_recorded_task_is_skipped_and_the_run_completes(store: Store) -> None:
    async def without_notify(input: dict[str, Any], run: Run) -> dict[str, Any]:
        charged = await charge.start(run, input["amount"])
        go = await run.wait_for_event("go")
        return {**charged, "go": go.data}

    info = resumed_with(without_notify, store)

    assert info.status == RunStatus.COMPLETED
    assert info.result == {"charged": AMOUNT, "go": "now"}
    assert executed == {"charge": 1, "notify": 1}


def test_a_task_appended_after_the_recorded_ones_runs_once(store: Store) -> None:
    async def with_shipping(input: dict[str, Any], run: Run) -> dict[str, Any]:
        charged = await charge.start(run, input["amount"])
        if input["amount"] > 100:
            await notify.start(run, "big-charge")
        go = await run.wait_for_event("go")
        shipped = await ship.start(run, "order-1")
        return {**charged, "go": go.data, "shipped": shipped}

    info = resumed_with(with_shipping, store)

    assert info.status == RunStatus.COMPLETED
    assert info.result == {"charged": AMOUNT, "go": "now", "shipped": "shipped order-1"}
    assert executed == {"charge": 1, "notify": 1, "ship": 1}


# -- unsafe ----------------------------------------------------------------------------


def test_a_task_inserted_before_a_recorded_one_diverges_before_it_runs(store: Store) -> None:
    async def with_fraud_check(input: dict[str, Any], run: Run) -> dict[str, Any]:
        charged = await charge.start(run, input["amount"])
        await fraud_check.start(run, input["amount"])
        await notify.start(run, "big-charge")
        go = await run.wait_for_event("go")
        return {**charged, "go": go.data}

    info = resumed_with(with_fraud_check, store)

    assert_diverged(info, "fraud-check", str(address("notify", "big-charge")))
    assert str(address("charge", AMOUNT)) not in info.error.message  # type: ignore[union-attr]
    assert executed == {"charge": 1, "notify": 1}, "fraud-check never ran"
    assert "fraud-check" not in [call.name for call in info.tasks]


def test_a_changed_task_input_diverges(store: Store) -> None:
    async def charging_in_cents(input: dict[str, Any], run: Run) -> dict[str, Any]:
        charged = await charge.start(run, input["amount"] * 100)
        if input["amount"] > 100:
            await notify.start(run, "big-charge")
        go = await run.wait_for_event("go")
        return {**charged, "go": go.data}

    info = resumed_with(charging_in_cents, store)

    assert_diverged(
        info, "charge", str(address("charge", AMOUNT)), str(address("notify", "big-charge"))
    )
    assert executed == {"charge": 1, "notify": 1}, "the new charge never ran"


def test_changed_control_flow_diverges(store: Store) -> None:
    async def higher_threshold(input: dict[str, Any], run: Run) -> dict[str, Any]:
        charged = await charge.start(run, input["amount"])
        if input["amount"] > 1000:  # the recorded notification is never asked for
            await notify.start(run, "big-charge")
        go = await run.wait_for_event("go")
        shipped = await ship.start(run, "order-1")
        return {**charged, "go": go.data, "shipped": shipped}

    info = resumed_with(higher_threshold, store)

    assert_diverged(info, "ship", str(address("notify", "big-charge")))
    assert executed == {"charge": 1, "notify": 1}, "ship never ran"
