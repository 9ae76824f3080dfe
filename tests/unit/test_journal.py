"""Folding a run's journal into its state, and journal lines in and out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from aiki_cli.model.entry import (
    Entry,
    ErrorInfo,
    Recovered,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
    dump_entry,
    parse_entry,
)
from aiki_cli.model.journal import current_status, summarize
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus as S
from aiki_cli.values.canonical import input_hash

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = RunSpec(
    id="01kdwz0m00000000000000000a",
    workflow="orders",
    version="1.0.0",
    input={"order": 1},
    created_at=T0,
    idempotency_key="k1",
)
H1 = input_hash({"n": 1})
H2 = input_hash({"n": 2})
BOOM = ErrorInfo(type="ValueError", message="boom")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def status(seconds: float, old: S, new: S, **fields: object) -> StatusChanged:
    return StatusChanged(at=at(seconds), old=old, new=new, **fields)  # type: ignore[arg-type]


def test_an_empty_journal_is_a_pending_run() -> None:
    info = summarize(SPEC, [])
    assert info.status == S.PENDING
    assert (info.id, info.workflow, info.version) == (SPEC.id, "orders", "1.0.0")
    assert info.input == {"order": 1}
    assert info.idempotency_key == "k1"
    assert info.created_at == info.updated_at == T0
    assert info.tasks == [] and info.result is None and info.error is None


def test_a_completed_run_has_its_result_and_last_update() -> None:
    entries = [
        status(1, S.PENDING, S.RUNNING, worker="w1"),
        status(2, S.RUNNING, S.COMPLETED, result={"ok": True}),
    ]
    info = summarize(SPEC, entries)
    assert info.status == S.COMPLETED
    assert info.result == {"ok": True}
    assert info.error is None
    assert info.updated_at == at(2)
    assert current_status(entries) == S.COMPLETED


def test_result_is_kept_only_when_completed() -> None:
    entries = [
        status(1, S.PENDING, S.RUNNING),
        status(2, S.RUNNING, S.FAILED, result={"ignored": 1}, error=BOOM),
    ]
    info = summarize(SPEC, entries)
    assert info.status == S.FAILED
    assert info.result is None
    assert info.error == BOOM
    assert "result" not in info.document()
    assert info.document()["error"] == {"type": "ValueError", "message": "boom"}


def test_retry_in_place_clears_the_error_and_counts_the_attempt() -> None:
    entries = [
        status(1, S.PENDING, S.RUNNING),
        status(2, S.RUNNING, S.FAILED, error=BOOM),
        status(3, S.FAILED, S.PENDING, attempt=2),
    ]
    info = summarize(SPEC, entries)
    assert info.status == S.PENDING
    assert info.error is None
    assert info.attempt == 2


def test_recoveries_come_from_recovered_entries() -> None:
    entries = [
        status(1, S.PENDING, S.RUNNING),
        Recovered(at=at(2), count=1, worker="w2"),
        status(2, S.RUNNING, S.RUNNING, worker="w2"),
        Recovered(at=at(3), count=2, worker="w3"),
        status(3, S.RUNNING, S.RUNNING, worker="w3"),
    ]
    info = summarize(SPEC, entries)
    assert info.recoveries == 2
    assert info.status == S.RUNNING


def test_tasks_have_status_attempts_and_duration() -> None:
    entries: list[Entry] = [
        status(0, S.PENDING, S.RUNNING),
        TaskStarted(at=at(1), task="charge", hash=H1, input={"n": 1}),
        TaskCompleted(at=at(2.5), task="charge", hash=H1, output={"paid": True}),
        TaskStarted(at=at(3), task="ship", hash=H2, input={"n": 2}, attempt=3),
        TaskFailed(at=at(3.25), task="ship", hash=H2, error=BOOM, attempt=3),
    ]
    charge, ship = summarize(SPEC, entries).tasks
    assert (charge.name, charge.hash, charge.status, charge.attempts) == (
        "charge",
        H1,
        "completed",
        1,
    )
    assert (charge.started_at, charge.finished_at) == (at(1), at(2.5))
    assert charge.duration_ms == 1500.0
    assert charge.error is None
    assert (ship.status, ship.attempts, ship.duration_ms, ship.error) == ("failed", 3, 250.0, BOOM)


def test_each_summary_has_lists_of_its_own() -> None:
    folded = summarize(SPEC, [TaskStarted(at=at(1), task="charge", hash=H1, input={"n": 1})])
    empty = summarize(SPEC, [])
    assert ([task.name for task in folded.tasks], empty.tasks) == (["charge"], [])
    empty.children.append("01kdwz0m00000000000000000b")
    assert summarize(SPEC, []).children == []


def test_calls_at_one_address_finish_in_the_order_they_started() -> None:
    entries: list[Entry] = [
        TaskStarted(at=at(1), task="step", hash=H1),
        TaskStarted(at=at(2), task="step", hash=H1),
        TaskCompleted(at=at(3), task="step", hash=H1, output=1),
    ]
    first, second = summarize(SPEC, entries).tasks
    assert (first.status, first.duration_ms) == ("completed", 2000.0)
    assert second.status == "running"


def test_a_finish_without_a_start_is_still_listed() -> None:
    entries: list[Entry] = [TaskCompleted(at=at(1), task="step", hash=H1, output=1)]
    (call,) = summarize(SPEC, entries).tasks
    assert (call.name, call.status, call.started_at, call.duration_ms) == (
        "step",
        "completed",
        None,
        None,
    )


def test_a_task_left_running_is_interrupted_once_the_run_is_recovered() -> None:
    entries: list[Entry] = [
        status(0, S.PENDING, S.RUNNING, worker="w1"),
        TaskStarted(at=at(1), task="charge", hash=H1),
    ]
    assert summarize(SPEC, entries).tasks[0].status == "running"
    entries += [
        Recovered(at=at(5), count=1, worker="w2"),
        status(5, S.RUNNING, S.RUNNING, worker="w2"),
        TaskStarted(at=at(6), task="charge", hash=H1),
    ]
    old, new = summarize(SPEC, entries).tasks
    assert old.status == "interrupted"
    assert new.status == "running"


@pytest.mark.parametrize("new", [S.PENDING, S.CANCELLED])
def test_a_task_left_open_when_the_run_stops_is_interrupted(new: S) -> None:
    """A worker journals the run's new status only once no task of it is in flight (it
    waits for them, or stopped them mid-way): one still open is not running (issue 15.10:
    after Ctrl-C of `start --wait` the run was pending and its task still `running`)."""
    entries: list[Entry] = [
        status(0, S.PENDING, S.RUNNING),
        TaskStarted(at=at(1), task="charge", hash=H1),
        status(2, S.RUNNING, new),
    ]
    assert summarize(SPEC, entries).tasks[0].status == "interrupted"


def test_cancel_requested_shows_only_while_the_run_has_not_ended() -> None:
    running = [status(1, S.PENDING, S.RUNNING)]
    ended = [*running, status(2, S.RUNNING, S.CANCELLED)]
    assert summarize(SPEC, running, cancel_requested=True).cancel_requested is True
    assert summarize(SPEC, running).cancel_requested is False
    assert summarize(SPEC, ended, cancel_requested=True).cancel_requested is False


EVERY_ENTRY: list[Entry] = [
    status(1, S.PENDING, S.RUNNING, worker="w1", attempt=2),
    status(2, S.RUNNING, S.COMPLETED, result={"total": 9.5, "items": ["a", None]}),
    status(3, S.RUNNING, S.FAILED, error=ErrorInfo(type="TaskFailed", message="x", task="t")),
    status(4, S.FAILED, S.PENDING, reason="retry"),
    TaskStarted(at=at(5), task="charge", hash=H1, input={"n": 1, "ü": "ß"}),
    TaskCompleted(at=at(6), task="charge", hash=H1, output=[1, {"a": True}]),
    TaskFailed(at=at(7), task="charge", hash=H1, error=BOOM, attempt=4),
    Recovered(at=at(8), count=3, worker="w9"),
]


@pytest.mark.parametrize("entry", EVERY_ENTRY, ids=lambda e: e.type)
def test_entries_round_trip_through_a_journal_line(entry: Entry) -> None:
    line = dump_entry(entry)
    assert line.startswith(b'{"type":')
    assert b"\n" not in line
    assert parse_entry(line) == entry
    assert parse_entry(line.decode()) == entry


@pytest.mark.parametrize("entry", EVERY_ENTRY, ids=lambda e: e.type)
def test_a_line_is_the_json_the_model_gives(entry: Entry) -> None:
    """`dump_entry` takes the serializer's bytes directly: the very line `model_dump_json`
    gives (non-ASCII text included), so journals read the same whichever wrote them."""
    assert dump_entry(entry) == entry.model_dump_json(by_alias=True, exclude_none=True).encode()


@pytest.mark.parametrize("entry", EVERY_ENTRY, ids=lambda e: e.type)
def test_a_line_written_another_way_reads_the_same(entry: Entry) -> None:
    """A journal is plain text: a line re-typed with spaces, or its keys in another
    order, is still the same entry."""
    fields = json.loads(dump_entry(entry))
    spaced = json.dumps(fields, indent=None, separators=(", ", ": ")).encode()
    reordered = json.dumps(dict(reversed(list(fields.items())))).encode()
    assert parse_entry(spaced) == entry
    assert parse_entry(reordered) == entry


def test_status_lines_say_from_and_to_and_leave_out_empty_fields() -> None:
    line = dump_entry(status(1, S.PENDING, S.RUNNING))
    assert b'"from":"pending","to":"running"' in line
    assert b"result" not in line and b"error" not in line


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"garbage",
        b'{"type":"nope","at":"2026-01-01T00:00:00Z"}',
        b'{"type":"recovered"}',
        b'{"type":"recovered","at":"2026-01-01T00:00:00Z","count":1,"type":"status"}',
        b'{"type":"',
    ],
)
def test_bad_lines_are_refused(line: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_entry(line)
