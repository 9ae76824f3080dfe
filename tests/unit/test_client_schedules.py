"""The client's schedule API (add, list, get, pause, resume, remove): what `aiki schedule`
calls, and what any other program calls, against the in-memory store and a fixed clock."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from aiki_cli import (
    BadInput,
    Client,
    InputInvalid,
    MemoryStore,
    Overlap,
    Run,
    Schedule,
    ScheduleNotFound,
    workflow,
)
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.testing import ManualClock

T = TypeVar("T")
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Order(BaseModel):
    sku: str


def go(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def versions() -> tuple[WorkflowVersion, WorkflowVersion]:
    flow = workflow("nightly")

    @flow.v("1.0.0")
    async def one(input: Any, run: Run) -> Any:
        return input

    @flow.v("2.0.0", input=Order)
    async def two(input: Order, run: Run) -> str:
        return input.sku

    return one, two


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def client(clock: ManualClock) -> Client:
    return Client(MemoryStore(), clock=clock)


def test_add_stores_an_interval_schedule_first_due_one_interval_on(client: Client) -> None:
    one, _ = versions()

    added = go(client.add_schedule(one, {"n": 1}, every="10m"))

    assert added.id.startswith("nightly-") and len(added.id) == len("nightly-") + 6
    assert (added.ref, added.every, added.cron, added.overlap) == (
        "nightly@1.0.0",
        600.0,
        None,
        "skip",
    )
    assert (added.input, added.paused, added.created_at) == ({"n": 1}, False, START)
    assert added.next_due == START + timedelta(minutes=10)
    assert client.store.schedule(added.id) == added
    assert go(client.schedules()) == [added]


def test_add_a_cron_schedule_in_a_zone_with_an_id_and_a_policy(client: Client) -> None:
    one, _ = versions()

    added = go(
        client.add_schedule(
            one,
            cron="0 9 * * *",
            timezone="Europe/Paris",
            overlap="cancel_previous",
            schedule_id="morning",
        )
    )

    assert (added.id, added.cron, added.timezone) == ("morning", "0 9 * * *", "Europe/Paris")
    assert added.overlap is Overlap.CANCEL_PREVIOUS
    # Now is 09:00 in Paris (UTC+1): the first occurrence is strictly after it, tomorrow's.
    assert added.next_due == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert go(client.get_schedule("morning")) == added


@pytest.mark.parametrize(
    "rule, fragment",
    [
        ({}, "exactly one of --cron EXPR or --every DURATION"),
        ({"cron": "* * * * *", "every": 60}, "exactly one of"),
        ({"cron": "0 9 * *"}, "is not a cron expression"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Base"}, "is not a time zone"),
        ({"every": 60, "timezone": "UTC"}, "--tz applies to --cron"),
        ({"every": 0.5}, "--every must be at least 1s"),
        ({"every": "1m", "schedule_id": "../etc"}, "schedule id '../etc' must start with"),
        ({"every": "1m", "overlap": "sometimes"}, "the schedule is invalid"),
    ],
)
def test_a_bad_schedule_is_refused_and_nothing_is_stored(
    client: Client, rule: dict[str, Any], fragment: str
) -> None:
    one, _ = versions()

    with pytest.raises(BadInput, match=fragment.replace("*", r"\*")):
        go(client.add_schedule(one, **rule))

    assert go(client.schedules()) == []


def test_input_is_checked_by_the_workflows_model_before_anything_is_stored(
    client: Client,
) -> None:
    _, two = versions()

    with pytest.raises(InputInvalid):
        go(client.add_schedule(two, {"quantity": 2}, every="1h"))
    added = go(client.add_schedule(two, {"sku": "A-1"}, every="1h"))

    assert added.input == {"sku": "A-1"}
    assert go(client.schedules()) == [added]


def test_adding_the_same_schedule_again_returns_the_stored_one(
    client: Client, clock: ManualClock
) -> None:
    one, _ = versions()
    first = go(client.add_schedule(one, every="1m", schedule_id="same"))
    clock.advance(30)

    again = go(client.add_schedule(one, every="1m", schedule_id="same"))
    with pytest.raises(BadInput, match="schedule 'same' already exists"):
        go(client.add_schedule(one, every="5m", schedule_id="same"))

    assert again == first
    assert go(client.schedules()) == [first]


def test_pause_and_resume_from_the_next_occurrence(client: Client, clock: ManualClock) -> None:
    one, _ = versions()
    added = go(client.add_schedule(one, every="10m", schedule_id="tick"))

    paused = go(client.pause_schedule("tick"))
    assert paused.paused and go(client.get_schedule("tick")) == paused
    assert go(client.pause_schedule("tick")) == paused  # pausing again changes nothing
    clock.advance(25 * 60)  # two occurrences missed while paused
    resumed = go(client.resume_schedule("tick"))

    assert not resumed.paused
    assert resumed.next_due == START + timedelta(minutes=30)  # not caught up
    assert go(client.get_schedule("tick")) == resumed
    assert go(client.resume_schedule("tick")) == resumed
    assert added.next_due == START + timedelta(minutes=10)


def test_remove_returns_the_schedule_and_leaves_none(client: Client) -> None:
    one, _ = versions()
    added = go(client.add_schedule(one, every="1h", schedule_id="gone"))

    assert go(client.remove_schedule("gone")) == added
    assert go(client.schedules()) == []


@pytest.mark.parametrize(
    "method", ["get_schedule", "pause_schedule", "resume_schedule", "remove_schedule"]
)
def test_an_unknown_schedule_is_not_found(client: Client, method: str) -> None:
    with pytest.raises(ScheduleNotFound, match="no schedule 'nope'"):
        go(getattr(client, method)("nope"))


def test_a_stored_policy_reads_back_as_the_one_overlap_enum() -> None:
    stored = {"id": "s", "workflow": "w", "version": "1", "every": 60.0, "overlap": "allow"}
    moment = START.isoformat()

    schedule = Schedule.model_validate({**stored, "created_at": moment, "next_due": moment})

    assert schedule.overlap is Overlap.ALLOW
    assert schedule.model_dump(mode="json")["overlap"] == "allow"
