"""A wall clock set forward, then back (issue 16.12): what was armed while it was ahead
comes back to the real time; nothing runs twice (workflows/reminders.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from flaky_service import exchange_rate, exchange_rate_v1, fetch_rate, rates_service
from reminders import follow_up, follow_up_v1, reminder, reminder_v1, send_message

from aiki_cli import RunStatus
from aiki_cli.model.schedule import Schedule
from aiki_cli.store import Store
from aiki_cli.testing import START, Harness
from aiki_cli.values.clock import JumpWatch

from .support import count_calls, journal

DAY = timedelta(days=1)


def jump(harness: Harness, to: timedelta) -> None:
    """Set the harness's wall clock, forward or back, as a person or NTP would."""
    harness.clock.current = START + to


def test_a_sleep_begun_while_the_clock_was_a_day_ahead_ends_on_time_after_it_is_set_back(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, send_message)

    async def scenario() -> None:
        harness = Harness([follow_up], store=store)
        await harness.worker.run(until_idle=True)  # the watch's first look: the true time
        jump(harness, DAY)
        handle = await harness.start(follow_up_v1, {"user": "ada", "after": "5s"})
        await harness.worker.run(until_idle=True)  # welcomes, then sleeps until tomorrow
        assert (await handle.get_status()).status == RunStatus.SLEEPING

        jump(harness, timedelta(seconds=2))
        await harness.advance("10s")

        assert (await handle.get_status()).status == RunStatus.COMPLETED
        first, again = await journal(handle, "sleep_started")
        assert first.until == START + DAY + timedelta(seconds=5)
        assert again.until == START + timedelta(seconds=7)  # begun again, for its length
        assert calls["send-message"] == 2

    asyncio.run(scenario())


def test_a_schedule_fired_while_the_clock_was_a_day_ahead_fires_again_once_set_back(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, send_message)

    async def scenario() -> None:
        harness = Harness([reminder], store=store)
        every_2s = Schedule(
            id="stand-up",
            workflow="reminder",
            version="1.0.0",
            every=2,
            input={"user": "ada", "text": "Stand-up!"},
            created_at=START,
            next_due=START + timedelta(seconds=2),
        )
        harness.store.save_schedule(every_2s)
        await harness.worker.run(until_idle=True)
        jump(harness, DAY)
        await harness.worker.run(until_idle=True)  # fires tomorrow's occurrence
        assert calls["send-message"] == 1

        jump(harness, timedelta(seconds=3))
        await harness.advance("10s")

        schedule = harness.store.schedule("stand-up")
        assert schedule is not None and schedule.next_due <= START + timedelta(seconds=16)
        runs = [ref.id for ref in harness.store.list_runs()]
        assert len(runs) >= 5  # tomorrow's, then one every 2 s from the real time on
        assert calls["send-message"] == len(runs)  # each run's task once

    asyncio.run(scenario())


def test_a_start_delayed_while_the_clock_was_a_day_ahead_is_due_once_it_is_set_back(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, send_message)

    async def scenario() -> None:
        harness = Harness([reminder], store=store)
        await harness.worker.run(until_idle=True)
        jump(harness, DAY)
        handle = await harness.start(reminder_v1, {"user": "ada", "text": "hi"}, delay="1h")
        await harness.worker.run(until_idle=True)
        assert (await handle.get_status()).status == RunStatus.PENDING

        jump(harness, timedelta(seconds=2))
        await harness.advance("1s")

        assert (await handle.get_status()).status == RunStatus.COMPLETED
        assert calls["send-message"] == 1

    asyncio.run(scenario())


def test_a_task_retry_timed_while_the_clock_was_a_day_ahead_is_due_once_it_is_set_back(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    rates_service.reset()
    calls = count_calls(monkeypatch, fetch_rate)

    async def scenario() -> None:
        harness = Harness([exchange_rate], store=store)
        await harness.worker.run(until_idle=True)
        jump(harness, DAY)
        handle = await harness.start(exchange_rate_v1, {"pair": "EUR/USD", "amount": 100})
        await harness.worker.run(until_idle=True)  # fails, retry due tomorrow + 5 s
        assert (await handle.get_status()).status == RunStatus.AWAITING_RETRY

        jump(harness, timedelta(seconds=2))
        await harness.advance("30s")

        assert (await handle.get_status()).status == RunStatus.COMPLETED
        assert calls["fetch-rate"] == 3  # fails twice, then succeeds: each attempt once

    try:
        asyncio.run(scenario())
    finally:
        rates_service.reset()


def test_the_watch_sees_the_clock_set_back_not_time_passing_nor_a_jump_forward(
    store: Store,
) -> None:
    harness = Harness([], store=store)
    ticks = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    watch = JumpWatch(harness.clock, monotonic=lambda: next(ticks))
    assert not watch.set_back()  # the first look
    harness.clock.advance(1)
    assert not watch.set_back()  # a second passed on both clocks
    jump(harness, DAY)
    assert not watch.set_back()  # forward
    jump(harness, timedelta(seconds=3.5))
    assert watch.set_back()
    jump(harness, timedelta(seconds=4))
    assert not watch.set_back()
