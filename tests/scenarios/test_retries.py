"""Retries: a task's own policy and a whole workflow's (workflows/flaky_service.py), and
retrying a failed run in place after a code fix."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flaky_service import (
    compute_totals,
    exchange_rate,
    exchange_rate_v1,
    ledger_service,
    post_to_ledger,
    rates_service,
    settlement,
    settlement_v1,
)

from aiki_cli import Run, RunStatus, task
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.store import Store
from aiki_cli.testing import START, Harness

from .support import count_calls, deploy, journal


@pytest.fixture(autouse=True)
def services_down_again() -> Iterator[None]:
    """Each test starts with the simulated services' outages ahead of it."""
    rates_service.reset()
    ledger_service.reset()
    yield
    rates_service.reset()
    ledger_service.reset()


def test_a_task_that_fails_twice_succeeds_on_its_third_attempt(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([exchange_rate], store=store)
        handle = await harness.start(exchange_rate_v1, {"pair": "EUR/USD", "amount": 100})
        await harness.advance("1s")

        info = await handle.get_status()
        assert info.status == RunStatus.AWAITING_RETRY, "parked until the next try is due"
        assert info.due_at == START + timedelta(seconds=5)
        assert [(t.name, t.status, t.attempts) for t in info.tasks] == [
            ("fetch-rate", "retrying", 1)
        ]

        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.result == {"pair": "EUR/USD", "rate": 1.08, "converted": 108.0}
        assert [(t.name, t.status, t.attempts) for t in info.tasks] == [
            ("fetch-rate", "completed", 3)
        ]
        failures = await journal(handle, "task_failed")
        assert [(f.attempt, f.error.type) for f in failures] == [
            (1, "ConnectionError"),
            (2, "ConnectionError"),
        ]
        assert [f.retry_at - f.at for f in failures] == [timedelta(seconds=5)] * 2
        assert info.attempt == 1, "the run itself was not retried"

    asyncio.run(scenario())


def test_a_workflow_that_fails_its_first_attempt_completes_on_its_second(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, compute_totals, post_to_ledger)

    async def scenario() -> None:
        harness = Harness([settlement], store=store)
        handle = await harness.start(settlement_v1, {"day": "2026-01-31", "amounts": [5, 7]})
        await harness.advance("1s")

        info = await handle.get_status()
        assert info.status == RunStatus.AWAITING_RETRY
        assert info.error is not None and info.error.type == "TaskFailed"
        assert info.due_at == START + timedelta(seconds=10)

        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.status == RunStatus.COMPLETED
        assert info.attempt == 2
        assert info.result == {
            "day": "2026-01-31",
            "count": 2,
            "total": 12,
            "entry": "ledger-2026-01-31",
            "attempt": 2,
        }
        assert calls == {"compute-totals": 1, "post-to-ledger": 2}, "totals were replayed"

    asyncio.run(scenario())


# -- retry in place after a code fix --------------------------------------------------

executed: list[str] = []


@task(name="load-invoice")
def load_invoice(input: dict[str, Any]) -> dict[str, Any]:
    executed.append("load-invoice")
    return {"invoice": input["invoice"], "lines": [3, 4]}


@task(name="send-invoice")
def send_invoice_buggy(input: dict[str, Any]) -> dict[str, Any]:
    executed.append("send-invoice (buggy)")
    return {"sent": input["total"]}  # the bug: there is no "total" yet


@task(name="send-invoice")
def send_invoice_fixed(input: dict[str, Any]) -> dict[str, Any]:
    executed.append("send-invoice (fixed)")
    return {"sent": sum(input["lines"])}


async def invoice_buggy(input: dict[str, Any], run: Run) -> dict[str, Any]:
    loaded = await load_invoice.start(run, input)
    return await send_invoice_buggy.start(run, loaded)


async def invoice_fixed(input: dict[str, Any], run: Run) -> dict[str, Any]:
    loaded = await load_invoice.start(run, input)
    return await send_invoice_fixed.start(run, loaded)


def test_a_failed_run_retried_in_place_after_a_code_fix_completes(store: Store) -> None:
    executed.clear()

    async def scenario() -> None:
        harness = Harness([WorkflowVersion("invoicing", "1.0.0", invoice_buggy)], store=store)
        handle = await harness.start(harness.worker.registry["invoicing@1.0.0"], {"invoice": 7})
        await harness.run_until_idle()
        info = await handle.get_status()
        assert info.status == RunStatus.FAILED
        assert info.error is not None and "KeyError" in info.error.message

        deploy(harness, [WorkflowVersion("invoicing", "1.0.0", invoice_fixed)])
        retried = await harness.client.retry(handle.id)
        assert retried.status == RunStatus.PENDING
        await harness.run_until_idle()

        info = await handle.get_status()
        assert info.status == RunStatus.COMPLETED
        assert info.id == handle.id
        assert info.attempt == 2
        assert info.result == {"sent": 7}
        assert executed == ["load-invoice", "send-invoice (buggy)", "send-invoice (fixed)"]

    asyncio.run(scenario())
