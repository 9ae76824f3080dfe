"""Time: delayed starts, durable sleeps, wake, pause and resume, and parked runs holding
no worker slot (workflows/reminders.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from reminders import follow_up, follow_up_v1, reminder, reminder_v1, send_message

from aiki_cli import Client, RunStatus, Worker
from aiki_cli.store import Store
from aiki_cli.testing import START, Harness

from .support import count_calls, journal

ADA = {"user": "ada", "text": "Stand-up!"}


def test_a_delayed_start_stays_pending_until_due_then_runs(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, send_message)

    async def scenario() -> None:
        harness = Harness([reminder], store=store)
        handle = await harness.start(reminder_v1, ADA, delay="5m")
        await harness.advance("4m")

        info = await handle.get_status()
        assert info.status == RunStatus.PENDING
        assert info.due_at == START + timedelta(minutes=5)
        assert calls["send-message"] == 0

        await harness.advance("2m")

        assert await handle.wait_for_completion() == {
            "to": "ada",
            "text": "Stand-up!",
            "delivered": True,
        }
        [started] = await journal(handle, "task_started")
        assert started.at == START + timedelta(minutes=5)

    asyncio.run(scenario())


def test_wake_ends_a_sleep_early_and_the_sleep_returns_true(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, send_message)

    async def scenario() -> None:
        harness = Harness([follow_up], store=store)
        handle = await harness.start(follow_up_v1, {"user": "ada"})
        await harness.advance("1h")
        assert (await handle.get_status()).status == RunStatus.SLEEPING

        await harness.client.wake(handle.id)
        await harness.run_until_idle()

        assert await handle.wait_for_completion() == {"user": "ada", "woken_early": True}
        assert harness.clock.now() == START + timedelta(hours=1), "not three days later"
        [ended] = await journal(handle, "sleep_ended")
        assert ended.woken
        assert calls["send-message"] == 2

    asyncio.run(scenario())


def test_a_paused_sleeping_run_waits_past_its_due_time_until_resumed(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, send_message)

    async def scenario() -> None:
        harness = Harness([follow_up], store=store)
        handle = await harness.start(follow_up_v1, {"user": "ada"})
        await harness.advance("1h")
        assert (await harness.client.pause(handle.id)).status == RunStatus.PAUSED

        await harness.advance("4d")  # the sleep is long due

        assert (await handle.get_status()).status == RunStatus.PAUSED
        assert calls["send-message"] == 1, "only the welcome"

        assert (await harness.client.resume(handle.id)).status == RunStatus.PENDING
        await harness.run_until_idle()

        assert await handle.wait_for_completion() == {"user": "ada", "woken_early": False}
        assert calls["send-message"] == 2
        assert len(await journal(handle, "sleep_started")) == 1

    asyncio.run(scenario())


def test_a_parked_run_holds_no_worker_slot(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([follow_up, reminder], store=store)
        harness.worker = Worker(
            harness.client, [follow_up, reminder], concurrency=1, poll_interval=0.001
        )
        sleeper = await harness.start(follow_up_v1, {"user": "ada"})
        await harness.worker.run(until_idle=True)
        assert (await sleeper.get_status()).status == RunStatus.SLEEPING

        other = await harness.start(reminder_v1, ADA)
        await harness.worker.run(until_idle=True)

        assert (await other.get_status()).status == RunStatus.COMPLETED
        assert (await sleeper.get_status()).status == RunStatus.SLEEPING
        assert harness.clock.now() == START, "no time passed"

    asyncio.run(scenario())


def test_a_real_sleep_survives_a_worker_restart(tmp_path: Path) -> None:
    """File store, system clock, real time: the one test here that waits (0.3 s)."""
    runs = tmp_path / "runs"

    async def scenario() -> None:
        client = Client(runs)
        handle = await follow_up_v1.start(client, {"user": "ada", "after": 0.3})
        await Worker(client, [follow_up], poll_interval=0.01).run(until_idle=True)
        assert (await handle.get_status()).status == RunStatus.SLEEPING

        # A new process, as it were: a new client and worker over the same directory.
        client = Client(runs)
        worker = Worker(client, [follow_up], poll_interval=0.01)
        serving = asyncio.create_task(worker.run())
        try:
            info = await client.wait(handle.id, timeout=5)
        finally:
            worker.stop()
            await serving

        assert info.status == RunStatus.COMPLETED
        assert info.result == {"user": "ada", "woken_early": False}
        entries = await client.history(handle.id)
        [started] = [entry for entry in entries if entry.type == "sleep_started"]
        [ended] = [entry for entry in entries if entry.type == "sleep_ended"]
        assert ended.at >= started.until == started.at + timedelta(seconds=0.3)

    asyncio.run(scenario())
