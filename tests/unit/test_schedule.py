"""Schedules: the occurrence maths, the overlap decisions, and firing with a fixed clock."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from aiki_cli import Client, Run, workflow
from aiki_cli.authoring.workflow import WorkflowVersion
from aiki_cli.model.schedule import MAX_CATCH_UP, Schedule, check_cron, check_timezone, owed
from aiki_cli.model.status import RunStatus
from aiki_cli.testing import ManualClock
from aiki_cli.worker.scheduler import Firing, fire, plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def every(seconds: float, **fields: Any) -> Schedule:
    created = fields.get("created_at", T0)
    defaults = {"id": "tick", "workflow": "tick", "version": "1.0.0", "created_at": created}
    due = created + timedelta(seconds=seconds)
    return Schedule(**{**defaults, "every": seconds, "next_due": due, **fields})


def cron(expression: str, zone: str = "UTC", **fields: Any) -> Schedule:
    created = fields.pop("created_at", T0)
    draft = Schedule(
        id="daily",
        workflow="tick",
        version="1.0.0",
        cron=expression,
        timezone=zone,
        created_at=created,
        next_due=created,
        **fields,
    )
    return draft.model_copy(update={"next_due": fields.get("next_due", draft.following(created))})


def walk(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = schedule.following(moment)
        found.append(moment)
    return found


# -- the model ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, fragment",
    [
        ({}, "either a cron expression or an interval"),
        ({"cron": "0 9 * * *", "every": 60}, "either a cron expression or an interval"),
        ({"cron": "0 9 * *"}, "not a cron expression"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"cron": "0 0 31 2 *"}, "never fires"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Base"}, "not a time zone"),
        ({"cron": "0 9 * * *", "timezone": "../etc"}, "not a time zone"),
        ({"every": 0}, "greater than 0"),
        ({"every": 60, "id": "../x"}, "should match pattern"),
        ({"every": 60, "overlap": "sometimes"}, "skip"),
    ],
)
def test_an_invalid_schedule_is_refused(fields: dict[str, Any], fragment: str) -> None:
    base = {"id": "s", "workflow": "tick", "version": "1.0.0", "created_at": T0, "next_due": T0}
    with pytest.raises(ValidationError, match=fragment):
        Schedule(**{**base, **fields})


def test_cron_and_zone_checks_say_what_is_wrong() -> None:
    assert check_cron("*/5 * * * *") == "*/5 * * * *"
    assert check_timezone("Asia/Tokyo") == "Asia/Tokyo"
    with pytest.raises(ValueError, match=r"like '0 9 \* \* \*'"):
        check_cron("every day")
    with pytest.raises(ValueError, match="never fires"):
        check_cron("0 0 30 2 *")
    with pytest.raises(ValueError, match="Europe/Paris"):
        check_timezone("Nowhere")


def test_a_schedule_round_trips_through_json() -> None:
    schedule = cron("0 9 * * 1-5", "Europe/Paris", input={"n": 1}, last_run_id="r1")
    assert Schedule.model_validate_json(schedule.model_dump_json()) == schedule
    assert schedule.ref == "tick@1.0.0"


def test_an_old_schedule_without_a_last_run_loads() -> None:
    document = every(60).model_dump(mode="json")
    del document["last_run_id"]
    assert Schedule.model_validate(document).last_run_id is None


# -- intervals ------------------------------------------------------------------------


def test_an_interval_is_anchored_at_creation() -> None:
    schedule = every(600)
    assert schedule.following(T0) == T0 + timedelta(minutes=10)
    assert schedule.following(T0 + timedelta(minutes=10)) == T0 + timedelta(minutes=20)
    assert schedule.following(T0 + timedelta(minutes=10, seconds=-1)) == T0 + timedelta(minutes=10)
    assert schedule.preceding(T0 + timedelta(minutes=10)) == T0
    assert schedule.preceding(T0 + timedelta(minutes=10, microseconds=1)) == T0 + timedelta(
        minutes=10
    )


def test_an_interval_before_its_creation_starts_at_its_creation() -> None:
    assert every(60).following(T0 - timedelta(days=3)) == T0


def test_a_fractional_interval_stays_on_its_grid() -> None:
    schedule = every(1.5)
    assert walk(schedule, T0, 3) == [T0 + timedelta(seconds=s) for s in (1.5, 3.0, 4.5)]


@given(
    seconds=st.floats(min_value=1, max_value=86400 * 30),
    offset=st.floats(min_value=0, max_value=1e8),
)
def test_an_interval_moment_lies_between_its_neighbours(seconds: float, offset: float) -> None:
    schedule = every(seconds)
    moment = T0 + timedelta(seconds=offset)
    after, before = schedule.following(moment), schedule.preceding(moment)
    step = timedelta(seconds=seconds)
    on_grid = (moment - T0) % step == timedelta(0)
    assert before < moment < after
    assert after - before == (2 * step if on_grid else step)
    assert schedule.preceding(after) == (moment if on_grid else before)
    assert schedule.following(before) == (moment if on_grid else after)


# -- cron -----------------------------------------------------------------------------


def test_cron_in_utc() -> None:
    schedule = cron("0 9 * * *")
    assert schedule.next_due == utc(2026, 1, 1, 9)
    assert schedule.following(utc(2026, 1, 1, 9)) == utc(2026, 1, 2, 9)
    assert schedule.following(utc(2026, 1, 1, 8, 59, 59, 999999)) == utc(2026, 1, 1, 9)
    assert schedule.preceding(utc(2026, 1, 1, 9)) == utc(2025, 12, 31, 9)
    assert schedule.preceding(utc(2026, 1, 1, 9, 0, 0, 1)) == utc(2026, 1, 1, 9)
    assert schedule.following(utc(2026, 1, 1, 9)).tzinfo == UTC


def test_cron_in_a_zone_follows_its_wall_clock_across_a_dst_change() -> None:
    # New York moves from UTC-5 to UTC-4 on 2026-03-08: 9:00 local is 14:00 then 13:00 UTC.
    schedule = cron("0 9 * * *", "America/New_York", created_at=utc(2026, 3, 6))
    days = walk(schedule, utc(2026, 3, 6), 4)
    assert days == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]
    assert all(day.astimezone(NEW_YORK).hour == 9 for day in days)


def test_a_time_the_clocks_skip_fires_just_after_the_gap() -> None:
    # Paris skips 02:00-03:00 on 2026-03-29; 02:30 that day fires at 03:00 CEST.
    schedule = cron("30 2 * * *", "Europe/Paris", created_at=utc(2026, 3, 27))
    assert walk(schedule, utc(2026, 3, 27, 12), 4) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST, the first moment after the gap
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]


def test_a_time_the_clocks_repeat_fires_once_for_a_schedule_that_names_its_hours() -> None:
    # Paris repeats 02:00-03:00 on 2026-10-25: 02:30 happens at 00:30 and at 01:30 UTC.
    schedule = cron("30 2 * * *", "Europe/Paris", created_at=utc(2026, 10, 23))
    days = walk(schedule, utc(2026, 10, 23, 12), 4)
    assert days == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST; the 02:30 CET an hour later does not fire
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]
    assert backwards(schedule, days[-1], 3) == days[:-1]


def test_an_hourly_schedule_fires_in_both_passes_of_a_repeated_hour() -> None:
    schedule = cron("0 * * * *", "Europe/Paris", created_at=utc(2026, 10, 24, 23))
    hours = walk(schedule, utc(2026, 10, 24, 23), 4)
    assert hours == [utc(2026, 10, 25, h) for h in (0, 1, 2, 3)]
    assert [h.astimezone(PARIS).hour for h in hours] == [2, 2, 3, 4]
    assert backwards(schedule, hours[-1], 3) == hours[:-1]


def backwards(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = schedule.preceding(moment)
        found.append(moment)
    return found[::-1]


@pytest.mark.parametrize(
    "expression, zone",
    [
        ("0 9 * * *", "America/New_York"),
        ("30 2 * * *", "Europe/Paris"),
        ("*/20 * * * *", "Europe/Paris"),
        ("15 1,2,3 * * *", "Australia/Lord_Howe"),  # a half-hour DST shift
        ("0 9 * * 1-5", "Asia/Kolkata"),
        ("0 0 1 * *", "UTC"),
    ],
)
@pytest.mark.parametrize("start", [utc(2026, 3, 27), utc(2026, 10, 23), utc(2026, 4, 3)])
def test_walking_back_retraces_walking_forward(expression: str, zone: str, start: datetime) -> None:
    schedule = cron(expression, zone, created_at=start)
    forward = walk(schedule, start, 40)
    assert forward == sorted(set(forward))
    assert backwards(schedule, forward[-1], 39) == forward[:-1]


# -- what is owed ---------------------------------------------------------------------


def test_nothing_is_owed_before_the_due_time() -> None:
    schedule = every(60)
    assert owed(schedule, T0 + timedelta(seconds=59)) == []


def test_the_due_time_itself_is_owed() -> None:
    schedule = every(60)
    assert owed(schedule, T0 + timedelta(seconds=60)) == [T0 + timedelta(seconds=60)]


def test_every_missed_occurrence_is_owed_in_order() -> None:
    schedule = every(60)
    now = T0 + timedelta(minutes=5, seconds=30)
    assert owed(schedule, now) == [T0 + timedelta(minutes=m) for m in (1, 2, 3, 4, 5)]
    assert owed(schedule, now, limit=1) == [T0 + timedelta(minutes=5)]
    assert owed(schedule, now, limit=2) == [T0 + timedelta(minutes=m) for m in (4, 5)]
    assert owed(schedule, now, limit=0) == []


def test_catching_up_is_capped_at_the_latest_occurrences() -> None:
    schedule = every(1)
    now = T0 + timedelta(days=365)  # 31 million occurrences missed
    found = owed(schedule, now)
    assert len(found) == MAX_CATCH_UP == 100
    assert found[-1] == now
    assert found == [now - timedelta(seconds=99 - n) for n in range(100)]


def test_a_due_time_off_the_grid_is_still_owed() -> None:
    schedule = every(60, next_due=T0 + timedelta(seconds=90))
    assert owed(schedule, T0 + timedelta(seconds=100)) == [T0 + timedelta(seconds=90)]
    assert owed(schedule, T0 + timedelta(seconds=150)) == [
        T0 + timedelta(seconds=90),
        T0 + timedelta(seconds=120),
    ]


def test_cron_occurrences_owed_across_a_dst_change() -> None:
    schedule = cron("0 9 * * *", "America/New_York", created_at=utc(2026, 3, 6))
    assert owed(schedule, utc(2026, 3, 9, 13)) == [
        utc(2026, 3, 6, 14),
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),
        utc(2026, 3, 9, 13),
    ]


def test_an_idempotency_key_names_the_schedule_and_the_instant() -> None:
    schedule = every(60)
    moment = T0 + timedelta(minutes=1)
    key = schedule.idempotency_key(moment)
    assert key == "schedule:tick:2026-01-01T00:01:00+00:00"
    assert schedule.idempotency_key(moment.astimezone(PARIS)) == key  # one instant, one key
    assert schedule.idempotency_key(moment + timedelta(minutes=1)) != key
    other = schedule.model_copy(update={"id": "tock"})
    assert other.idempotency_key(moment) != key


# -- the overlap decisions ------------------------------------------------------------

MISSED = T0 + timedelta(minutes=3, seconds=10)  # occurrences at 1, 2 and 3 minutes are owed
OWED = [T0 + timedelta(minutes=m) for m in (1, 2, 3)]
NEXT = T0 + timedelta(minutes=4)


@pytest.mark.parametrize(
    "overlap, previous_active, expected",
    [
        ("skip", False, Firing(OWED[-1:], False, NEXT)),
        ("skip", True, Firing([], False, NEXT)),
        ("allow", False, Firing(OWED, False, NEXT)),
        ("allow", True, Firing(OWED, False, NEXT)),
        ("cancel_previous", False, Firing(OWED[-1:], False, NEXT)),
        ("cancel_previous", True, Firing(OWED[-1:], True, NEXT)),
    ],
)
def test_the_overlap_policy_decides(overlap: str, previous_active: bool, expected: Firing) -> None:
    assert plan(every(60, overlap=overlap), MISSED, previous_active) == expected


@pytest.mark.parametrize("overlap", ["skip", "allow", "cancel_previous"])
@pytest.mark.parametrize("previous_active", [False, True])
def test_nothing_happens_before_the_due_time_or_when_paused(
    overlap: str, previous_active: bool
) -> None:
    schedule = every(60, overlap=overlap)
    early = T0 + timedelta(seconds=59)
    assert plan(schedule, early, previous_active) == Firing([], False, schedule.next_due)
    paused = schedule.model_copy(update={"paused": True})
    assert plan(paused, MISSED, previous_active) == Firing([], False, paused.next_due)


def test_the_next_due_time_is_the_first_occurrence_after_now() -> None:
    schedule = every(60)
    on_the_dot = T0 + timedelta(minutes=2)
    assert plan(schedule, on_the_dot, False).next_due == T0 + timedelta(minutes=3)


# -- firing ---------------------------------------------------------------------------


class Order(BaseModel):
    sku: str


tick = workflow(name="tick")


@tick.v("1.0.0")
async def tick_v1(input: Any, run: Run) -> Any:
    return input


@tick.v("2.0.0", input=Order)
async def tick_v2(input: Order, run: Run) -> str:
    return input.sku


REGISTRY: dict[str, WorkflowVersion] = {v.ref: v for v in tick.versions.values()}


@pytest.fixture
def client(clock: ManualClock) -> Client:
    return Client(":memory:", clock=clock)


def fire_now(
    client: Client, schedule: Schedule, registry: dict[str, WorkflowVersion] = REGISTRY
) -> Schedule:
    return asyncio.run(fire(client, schedule, registry))


def status(client: Client, run_id: str | None) -> RunStatus:
    return asyncio.run(client.get(run_id or "")).status


def add(client: Client, schedule: Schedule) -> Schedule:
    client.store.save_schedule(schedule)
    return schedule


def stored(client: Client) -> Schedule:
    (schedule,) = client.store.schedules()
    return schedule


def keys(client: Client) -> list[str | None]:
    """The idempotency keys of the client's runs, oldest first."""
    return [client.store.read_run(ref.id)[0].idempotency_key for ref in client.store.list_runs()][
        ::-1
    ]


def test_firing_starts_the_owed_run_and_stores_the_next_due_time(
    client: Client, clock: ManualClock
) -> None:
    schedule = add(client, every(60, input={"n": 1}))
    clock.advance(61)
    fired = fire_now(client, schedule)
    assert keys(client) == ["schedule:tick:2026-01-01T00:01:00+00:00"]
    run = asyncio.run(client.get(fired.last_run_id or ""))
    assert (run.workflow, run.version, run.input) == ("tick", "1.0.0", {"n": 1})
    assert fired.next_due == T0 + timedelta(minutes=2)
    assert stored(client) == fired
    assert client.store.next_due() == fired.next_due


def test_two_workers_firing_one_occurrence_start_one_run(
    client: Client, clock: ManualClock
) -> None:
    schedule = add(client, every(60, overlap="allow"))
    clock.advance(60)
    first = fire_now(client, schedule)
    second = fire_now(client, schedule)  # the same schedule, read before the save
    assert len(list(client.store.list_runs())) == 1
    assert first == second == stored(client)


def test_a_fired_schedule_owes_nothing_more_until_its_next_occurrence(
    client: Client, clock: ManualClock
) -> None:
    add(client, every(60, overlap="allow"))
    clock.advance(60)
    fire_now(client, stored(client))
    clock.advance(59)
    again = fire_now(client, stored(client))
    assert len(keys(client)) == 1
    assert again == stored(client)


def test_skip_starts_nothing_while_the_previous_run_is_active(
    client: Client, clock: ManualClock
) -> None:
    add(client, every(60))
    clock.advance(60)
    first = fire_now(client, stored(client))
    clock.advance(60)
    second = fire_now(client, stored(client))  # the first run is still pending
    assert len(keys(client)) == 1
    assert second.last_run_id == first.last_run_id
    assert second.next_due == T0 + timedelta(minutes=3)
    asyncio.run(client.cancel(first.last_run_id or ""))
    clock.advance(60)
    third = fire_now(client, stored(client))
    assert keys(client)[-1] == "schedule:tick:2026-01-01T00:03:00+00:00"
    assert third.last_run_id != first.last_run_id


def test_skip_starts_only_the_latest_missed_occurrence(client: Client, clock: ManualClock) -> None:
    schedule = add(client, every(60))
    clock.advance(60 * 10 + 5)
    fire_now(client, schedule)
    assert keys(client) == ["schedule:tick:2026-01-01T00:10:00+00:00"]


def test_allow_catches_up_every_missed_occurrence_in_order(
    client: Client, clock: ManualClock
) -> None:
    schedule = add(client, every(60, overlap="allow"))
    clock.advance(60 * 3)
    fired = fire_now(client, schedule)
    assert keys(client) == [f"schedule:tick:2026-01-01T00:0{m}:00+00:00" for m in (1, 2, 3)]
    assert fired.last_run_id == next(iter(client.store.list_runs())).id


def test_allow_catches_up_on_the_latest_hundred_and_says_so(
    client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    schedule = add(client, every(60, overlap="allow"))
    clock.advance(60 * 150)
    with caplog.at_level(logging.WARNING, logger="aiki.scheduler"):
        fire_now(client, schedule)
    started = keys(client)
    assert len(started) == 100
    assert started[0] == schedule.idempotency_key(T0 + timedelta(minutes=51))
    assert started[-1] == schedule.idempotency_key(T0 + timedelta(minutes=150))
    assert "missed more than 100 occurrences" in caplog.text


def test_cancel_previous_cancels_the_active_run_then_starts_the_next(
    client: Client, clock: ManualClock
) -> None:
    add(client, every(60, overlap="cancel_previous"))
    clock.advance(60)
    first = fire_now(client, stored(client))
    clock.advance(60)
    second = fire_now(client, stored(client))
    assert status(client, first.last_run_id) == RunStatus.CANCELLED
    assert status(client, second.last_run_id) == RunStatus.PENDING
    assert len(keys(client)) == 2


def test_cancel_previous_leaves_an_ended_run_alone(client: Client, clock: ManualClock) -> None:
    add(client, every(60, overlap="cancel_previous"))
    clock.advance(60)
    first = fire_now(client, stored(client))
    asyncio.run(client.cancel(first.last_run_id or ""))
    clock.advance(60)
    second = fire_now(client, stored(client))
    assert second.last_run_id != first.last_run_id
    assert len(keys(client)) == 2


def test_a_previous_run_that_is_gone_counts_as_ended(client: Client, clock: ManualClock) -> None:
    schedule = add(client, every(60, last_run_id="01kdz0000000000000000000zz"))
    clock.advance(60)
    fired = fire_now(client, schedule)
    assert len(keys(client)) == 1
    assert fired.last_run_id != schedule.last_run_id


def test_a_paused_schedule_is_not_fired(client: Client, clock: ManualClock) -> None:
    schedule = add(client, every(60, paused=True))
    clock.advance(600)
    assert fire_now(client, schedule) == schedule
    assert keys(client) == []
    assert client.store.due_timers(clock.now()) == []


def test_a_schedule_of_an_unloaded_version_is_left_for_another_worker(
    client: Client, clock: ManualClock
) -> None:
    schedule = add(client, every(60))
    clock.advance(60)
    assert fire_now(client, schedule, {}) == schedule
    assert keys(client) == []
    assert stored(client) == schedule


def test_an_occurrence_that_cannot_start_is_logged_and_passed_over(
    client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    schedule = add(client, every(60, version="2.0.0", input={"sku": 5}))
    clock.advance(60)
    with caplog.at_level(logging.ERROR, logger="aiki.scheduler"):
        fired = fire_now(client, schedule)
    assert keys(client) == []
    assert fired.next_due == T0 + timedelta(minutes=2)
    assert "input of workflow tick@2.0.0 is invalid" in caplog.text


def test_a_schedule_removed_while_it_fired_stays_removed(
    client: Client, clock: ManualClock
) -> None:
    schedule = add(client, every(60))
    client.store.remove_schedule(schedule.id)
    clock.advance(60)
    fire_now(client, schedule)
    assert client.store.schedules() == []
    assert client.store.next_due() is None


def test_a_schedule_paused_while_it_fired_stays_paused(client: Client, clock: ManualClock) -> None:
    schedule = add(client, every(60))
    client.store.save_schedule(schedule.model_copy(update={"paused": True}))
    clock.advance(60)
    fired = fire_now(client, schedule)
    assert fired.paused and stored(client).paused
    assert client.store.next_due() is None


def test_a_cron_schedule_fires_at_its_local_time(client: Client, clock: ManualClock) -> None:
    clock.current = utc(2026, 3, 7, 15)
    schedule = add(client, cron("0 9 * * *", "America/New_York", created_at=clock.now()))
    assert schedule.next_due == utc(2026, 3, 8, 13)  # 9:00 EDT, the first day of DST
    clock.current = utc(2026, 3, 8, 13)
    fired = fire_now(client, schedule)
    assert keys(client) == ["schedule:daily:2026-03-08T13:00:00+00:00"]
    assert fired.next_due == utc(2026, 3, 9, 13)


def test_the_worker_fires_due_schedule_timers(client: Client, clock: ManualClock) -> None:
    from aiki_cli import Worker

    add(client, every(60))
    worker = Worker(client, [tick])
    clock.advance(30)
    assert asyncio.run(worker.fire_timers()) == 0
    clock.advance(30)
    assert asyncio.run(worker.fire_timers()) == 1
    assert len(keys(client)) == 1
    assert client.store.next_due() == T0 + timedelta(minutes=2)
    assert [t.target for t in client.store.due_timers(T0 + timedelta(minutes=2))] == ["tick"]
