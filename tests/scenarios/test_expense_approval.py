"""A pipeline of task → sleep → approval event with a timeout → task, with an event model:
`expense-approval@1.0.0` (workflows/expense_approval.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from expense_approval import (
    escalate_expense,
    expense_approval,
    expense_v1,
    file_expense,
    pay_expense,
)

from aiki_cli import InputInvalid, RunInfo, RunStatus
from aiki_cli.store import Store
from aiki_cli.testing import START, Harness

from .support import count_calls, journal, mail_of

CLAIM = {"expense_id": "exp-7", "employee": "ada", "amount": 120.5}
APPROVED = {"approved": True, "approver": "grace"}


def task_names(info: RunInfo) -> list[str]:
    return [task.name for task in info.tasks]


def test_an_approval_in_time_pays_the_claim(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    calls = count_calls(monkeypatch, file_expense, pay_expense, escalate_expense)

    async def scenario() -> None:
        harness = Harness([expense_approval], store=store)
        handle = await harness.start(expense_v1, CLAIM)
        await harness.advance("30m")
        assert (await handle.get_status()).status == RunStatus.SLEEPING
        await harness.advance("31m")
        assert (await handle.get_status()).status == RunStatus.AWAITING_EVENT
        await harness.advance("1d")

        assert await harness.send(handle, "approval", APPROVED)
        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.result == {
            "outcome": "paid",
            "approver": "grace",
            "expense_id": "exp-7",
            "paid": 120.5,
            "to": "ada",
        }
        assert task_names(info) == ["file-expense", "pay-expense"]
        assert calls == {"file-expense": 1, "pay-expense": 1}
        assert info.updated_at == START + timedelta(days=1, minutes=61)

    asyncio.run(scenario())


def test_no_answer_within_two_days_escalates_the_claim(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    calls = count_calls(monkeypatch, file_expense, pay_expense, escalate_expense)

    async def scenario() -> None:
        harness = Harness([expense_approval], store=store)
        handle = await harness.start(expense_v1, CLAIM)
        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.result == {
            "outcome": "escalated",
            "expense_id": "exp-7",
            "escalated_to": "finance",
        }
        assert calls == {"file-expense": 1, "escalate-expense": 1}
        timed_out = await journal(handle, "event_timeout")
        assert [entry.at for entry in timed_out] == [START + timedelta(hours=1, days=2)]

    asyncio.run(scenario())


def test_a_rejection_reaches_the_workflow_as_a_model_instance(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([expense_approval], store=store)
        handle = await harness.start(expense_v1, CLAIM)
        await harness.advance("2h")
        rejection = {"approved": False, "approver": "grace", "note": "no receipt"}
        assert await harness.send(handle, "approval", rejection)
        await harness.run_until_idle()

        # The workflow reads `approval.approved` and `.note`: attributes of `Approval`.
        assert await handle.wait_for_completion() == {
            "outcome": "rejected",
            "note": "no receipt",
            "expense_id": "exp-7",
            "rejected_by": "grace",
        }

    asyncio.run(scenario())


def test_an_approval_sent_before_the_wait_is_kept(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([expense_approval], store=store)
        handle = await harness.start(expense_v1, CLAIM)
        assert await harness.send(handle, "approval", APPROVED)  # before the run even began
        await harness.advance("10m")
        assert (await handle.get_status()).status == RunStatus.SLEEPING
        assert len(await journal(handle, "event_received")) == 1, "journaled, not yet used"

        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.result["outcome"] == "paid"
        assert info.updated_at == START + timedelta(hours=1), "no wait after the cooling-off"

    asyncio.run(scenario())


def test_event_data_that_does_not_fit_the_model_is_refused_and_nothing_is_stored(
    store: Store,
) -> None:
    async def scenario() -> None:
        harness = Harness([expense_approval], store=store)
        handle = await harness.start(expense_v1, CLAIM)
        await harness.advance("2h")
        assert (await handle.get_status()).status == RunStatus.AWAITING_EVENT

        for bad in ({"approved": "maybe", "approver": "grace"}, {"approved": True}, "yes"):
            with pytest.raises(InputInvalid, match="data of event 'approval'"):
                await harness.send(handle, "approval", bad)

        assert mail_of(harness, handle.id) == []
        assert await journal(handle, "event_received") == []
        await harness.advance("1h")
        assert (await handle.get_status()).status == RunStatus.AWAITING_EVENT

        assert await harness.send(handle, "approval", APPROVED)
        await harness.run_until_idle()
        assert (await handle.wait_for_completion())["outcome"] == "paid"

    asyncio.run(scenario())


def test_the_handle_a_start_returns_refuses_event_data_that_does_not_fit_the_model(
    store: Store,
) -> None:
    async def scenario() -> None:
        harness = Harness([expense_approval], store=store)
        handle = await expense_v1.start(harness.client, CLAIM)  # as a program would
        await harness.advance("2h")

        with pytest.raises(InputInvalid):
            await handle.send("approval", {"approved": "maybe", "approver": "grace"})

        await harness.run_until_idle()
        assert (await handle.get_status()).status != RunStatus.FAILED

    asyncio.run(scenario())
