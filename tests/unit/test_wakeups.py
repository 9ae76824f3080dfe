"""When an idle worker looks at the store again (`worker/wakeups.py`)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from aiki_cli.errors import StoreUnreachable
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.store.memory import MemoryStore
from aiki_cli.testing import ManualClock
from aiki_cli.values.ids import new_run_id
from aiki_cli.worker.wakeups import BACKOFF, FALLBACK_POLL, Wakeups


def told(clock: ManualClock) -> Wakeups:
    """The wake-ups of a worker whose store tells it of every change."""
    wakeups = Wakeups(MemoryStore(), clock, 0.2, lambda: None)
    wakeups.told = True
    return wakeups


def test_a_store_that_does_not_tell_is_polled(clock: ManualClock) -> None:
    assert Wakeups(MemoryStore(), clock, 0.2, lambda: None).pause() == 0.2


def test_a_store_that_tells_is_polled_only_as_a_fallback(clock: ManualClock) -> None:
    assert told(clock).pause() == FALLBACK_POLL


def test_runs_held_elsewhere_are_polled_since_no_one_tells_of_their_holders_death(
    clock: ManualClock,
) -> None:
    assert told(clock).pause(contended=True) == 0.2


def test_a_timer_due_soon_shortens_the_pause(clock: ManualClock) -> None:
    wakeups = told(clock)
    run = wakeups.store.create_run(_spec(clock))
    claim = wakeups.store.claim(run.id)
    assert claim is not None
    claim.set_timer(clock.now() + timedelta(seconds=1.5))
    assert wakeups.pause() == 1.5
    claim.set_timer(clock.now() + timedelta(milliseconds=1))
    assert wakeups.pause() == 0.2  # never busier than the poll
    claim.release()


def test_an_outage_is_said_once_and_backs_off(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    wakeups = told(clock)
    with caplog.at_level(logging.INFO, logger="aiki.worker"):
        pauses = [wakeups.lost(StoreUnreachable("db", "database 'x' on h: refused"))]
        pauses += [wakeups.lost(StoreUnreachable("db", "another way")) for _ in range(5)]
        assert pauses == [*BACKOFF, BACKOFF[-1], BACKOFF[-1]]
        assert wakeups.reached() == FALLBACK_POLL
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2
    assert said[0].startswith("lost the store: cannot reach PostgreSQL database 'x'")
    assert said[1] == "the store is back after 6 failed attempts"


def _spec(clock: ManualClock) -> RunSpec:
    return RunSpec(
        id=new_run_id(clock.now(), bytes(10)),
        workflow="w",
        version="1.0.0",
        created_at=clock.now(),
    )
