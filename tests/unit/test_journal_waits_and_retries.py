"""The journal of runs that wait and retry: how `summarize` folds parked statuses (due
times), child runs, task retries, workflow retries and retries in place; what the replay
book makes of retried tasks; and the journal lines of those entries.

(The journal's first entries, folding and line format are in test_journal.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aiki_cli.authoring.replay import Outcome, ReplayBook
from aiki_cli.model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    ErrorInfo,
    EventReceived,
    EventTimedOut,
    EventWaited,
    Recovered,
    SleepEnded,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
    dump_entry,
    parse_entry,
)
from aiki_cli.model.journal import summarize
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus as S
from aiki_cli.values.canonical import Address, input_hash

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = RunSpec(
    id="01kdwz0m00000000000000000a",
    workflow="orders",
    version="1.0.0",
    input={"order": 1},
    created_at=T0,
)
H1 = input_hash({"n": 1})
H2 = input_hash({"n": 2})
PAY = Address("pay", H1)
BOOM = ErrorInfo(type="ValueError", message="boom")
CHILD_A = "01kdwz0m00000000000000000b"
CHILD_B = "01kdwz0m00000000000000000c"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def status(seconds: float, old: S, new: S, **fields: object) -> StatusChanged:
    return StatusChanged(at=at(seconds), old=old, new=new, **fields)  # type: ignore[arg-type]


def started(seconds: float, attempt: int = 1, hash: str = H1) -> TaskStarted:
    return TaskStarted(at=at(seconds), task="pay", hash=hash, input={"n": 1}, attempt=attempt)


def completed(seconds: float, attempt: int = 1, output: object = "ok") -> TaskCompleted:
    return TaskCompleted(at=at(seconds), task="pay", hash=H1, output=output, attempt=attempt)


def failed(seconds: float, attempt: int = 1, retry_at: datetime | None = None) -> TaskFailed:
    return TaskFailed(
        at=at(seconds), task="pay", hash=H1, error=BOOM, attempt=attempt, retry_at=retry_at
    )


# -- summarize: due times -----------------------------------------------------------


def test_a_parked_status_shows_when_it_is_due() -> None:
    entries = [
        status(1, S.PENDING, S.RUNNING),
        status(2, S.RUNNING, S.SLEEPING, until=at(3600)),
    ]
    info = summarize(SPEC, entries)
    assert info.status == S.SLEEPING
    assert info.due_at == at(3600)


def test_the_due_time_is_cleared_once_the_run_runs_again() -> None:
    entries = [
        status(1, S.PENDING, S.RUNNING),
        status(2, S.RUNNING, S.SLEEPING, until=at(3600)),
        status(3600, S.SLEEPING, S.RUNNING),
    ]
    assert summarize(SPEC, entries).due_at is None


def test_a_delayed_start_is_due_at_its_start_time() -> None:
    spec = SPEC.model_copy(update={"not_before": at(60)})
    assert summarize(spec, []).due_at == at(60)
    assert summarize(spec, [status(60, S.PENDING, S.RUNNING)]).due_at is None


def test_a_wait_without_timeout_has_no_due_time() -> None:
    entries = [status(1, S.PENDING, S.RUNNING), status(2, S.RUNNING, S.AWAITING_EVENT)]
    info = summarize(SPEC, entries)
    assert info.status == S.AWAITING_EVENT
    assert info.due_at is None


# -- summarize: children ------------------------------------------------------------


def test_children_are_listed_in_the_order_they_started() -> None:
    entries: list[Entry] = [
        status(1, S.PENDING, S.RUNNING),
        ChildStarted(at=at(2), seq=1, child=CHILD_A, workflow="ship", version="1.0.0"),
        ChildStarted(at=at(3), seq=2, child=CHILD_B, workflow="ship", version="1.0.0"),
        status(4, S.RUNNING, S.AWAITING_CHILD),
        ChildEnded(at=at(5), child=CHILD_A, status=S.COMPLETED, result=1),
    ]
    info = summarize(SPEC, entries)
    assert info.children == [CHILD_A, CHILD_B]
    assert info.updated_at == at(5)
    assert "children" in info.document()
    assert "children" not in info.document(full=False)


# -- summarize: task retries --------------------------------------------------------


RETRIED: list[Entry] = [
    status(1, S.PENDING, S.RUNNING),
    started(2),
    failed(3, retry_at=at(63)),
    status(4, S.RUNNING, S.AWAITING_RETRY, until=at(63)),
    status(63, S.AWAITING_RETRY, S.RUNNING),
    started(64, attempt=2),
    completed(65, attempt=2),
    status(66, S.RUNNING, S.COMPLETED, result="ok"),
]


def test_a_retried_task_is_one_row_completed_after_two_attempts() -> None:
    info = summarize(SPEC, RETRIED)
    assert len(info.tasks) == 1
    call = info.tasks[0]
    assert (call.name, call.status, call.attempts) == ("pay", "completed", 2)
    assert call.error is None
    assert call.started_at == at(64)
    assert call.finished_at == at(65)
    assert call.duration_ms == 1000


@pytest.mark.parametrize("upto", [3, 4, 5])
def test_a_task_waiting_for_its_retry_is_retrying(upto: int) -> None:
    info = summarize(SPEC, RETRIED[:upto])
    [call] = info.tasks
    assert (call.status, call.attempts) == ("retrying", 1)
    assert call.error == BOOM


def test_the_awaited_retry_is_due_at_retry_at() -> None:
    info = summarize(SPEC, RETRIED[:4])
    assert info.status == S.AWAITING_RETRY
    assert info.due_at == at(63)


def test_a_retry_in_progress_is_running_on_its_second_attempt() -> None:
    [call] = summarize(SPEC, RETRIED[:6]).tasks
    assert (call.status, call.attempts, call.error) == ("running", 2, None)


def test_a_retried_task_that_fails_for_good_is_one_failed_row() -> None:
    entries = [*RETRIED[:6], failed(65, attempt=2)]
    [call] = summarize(SPEC, entries).tasks
    assert (call.status, call.attempts, call.error) == ("failed", 2, BOOM)


def test_retries_of_distinct_calls_stay_apart() -> None:
    entries: list[Entry] = [
        status(1, S.PENDING, S.RUNNING),
        started(2),
        started(2, hash=H2),
        failed(3, retry_at=at(4)),
        TaskCompleted(at=at(3), task="pay", hash=H2, output=2),
        started(4, attempt=2),
        completed(5, attempt=2),
    ]
    calls = summarize(SPEC, entries).tasks
    assert [(c.hash, c.status, c.attempts) for c in calls] == [
        (H1, "completed", 2),
        (H2, "completed", 1),
    ]


# -- summarize: workflow retries and retries in place ---------------------------------


WORKFLOW_RETRY: list[Entry] = [
    status(1, S.PENDING, S.RUNNING),
    status(2, S.RUNNING, S.AWAITING_RETRY, until=at(62), error=BOOM, reason="workflow retry"),
    status(62, S.AWAITING_RETRY, S.RUNNING, attempt=2),
    status(63, S.RUNNING, S.COMPLETED, attempt=2, result="ok"),
]


def test_the_error_shows_while_the_workflow_awaits_its_retry() -> None:
    info = summarize(SPEC, WORKFLOW_RETRY[:2])
    assert info.status == S.AWAITING_RETRY
    assert info.error == BOOM
    assert info.due_at == at(62)
    error = info.document()["error"]
    assert (error["type"], error["message"]) == ("ValueError", "boom")


def test_the_error_is_cleared_once_the_retry_completes() -> None:
    info = summarize(SPEC, WORKFLOW_RETRY)
    assert (info.status, info.attempt, info.result) == (S.COMPLETED, 2, "ok")
    assert info.error is None
    assert "error" not in info.document()


def test_a_retry_in_place_resets_the_recoveries_and_the_error() -> None:
    entries: list[Entry] = [
        status(1, S.PENDING, S.RUNNING),
        Recovered(at=at(2), count=1),
        Recovered(at=at(3), count=2),
        status(4, S.RUNNING, S.FAILED, error=BOOM),
    ]
    before = summarize(SPEC, entries)
    assert (before.recoveries, before.error) == (2, BOOM)
    after = summarize(SPEC, [*entries, status(5, S.FAILED, S.PENDING, attempt=2)])
    assert (after.status, after.attempt) == (S.PENDING, 2)
    assert after.recoveries == 0
    assert after.error is None


def test_a_retried_cancelled_run_is_pending_again() -> None:
    entries = [
        status(1, S.PENDING, S.CANCELLED, reason="cancelled"),
        status(2, S.CANCELLED, S.PENDING, attempt=2, reason="retried"),
    ]
    info = summarize(SPEC, entries)
    assert (info.status, info.attempt) == (S.PENDING, 2)


def test_cancel_requested_shows_only_before_the_run_ends() -> None:
    assert summarize(SPEC, [], cancel_requested=True).cancel_requested
    ended = [status(1, S.PENDING, S.CANCELLED)]
    assert not summarize(SPEC, ended, cancel_requested=True).cancel_requested


# -- the replay book ----------------------------------------------------------------


def test_a_failure_to_be_retried_is_not_an_outcome() -> None:
    book = ReplayBook([started(1), failed(2, retry_at=at(10))])
    assert book.remaining == 0
    assert book.take(PAY) is None
    retry = book.retry(PAY)
    assert retry is not None
    assert (retry.failures, retry.at) == (1, at(10))


def test_retries_count_every_failed_attempt() -> None:
    book = ReplayBook(
        [started(1), failed(2, retry_at=at(10)), started(10, 2), failed(11, 2, retry_at=at(30))]
    )
    retry = book.retry(PAY)
    assert retry is not None
    assert (retry.failures, retry.at) == (2, at(30))


def test_a_final_failure_is_an_outcome() -> None:
    book = ReplayBook([started(1), failed(2, retry_at=at(10)), started(10, 2), failed(11, 2)])
    assert book.retry(PAY) is None
    assert book.remaining == 1
    assert book.take(PAY) == Outcome(error=BOOM)


def test_a_completion_after_retries_is_the_outcome() -> None:
    book = ReplayBook(RETRIED)
    assert book.retry(PAY) is None
    assert book.take(PAY) == Outcome(output="ok")
    assert book.take(PAY) is None


def test_a_new_attempt_of_the_run_forgets_its_failures() -> None:
    book = ReplayBook(
        [
            status(1, S.PENDING, S.RUNNING),
            started(2),
            failed(3),
            status(4, S.RUNNING, S.FAILED, error=BOOM),
            status(5, S.FAILED, S.PENDING, attempt=2),
        ]
    )
    assert book.remaining == 0
    assert book.take(PAY) is None
    assert book.unconsumed() == []


def test_a_new_attempt_of_the_run_forgets_pending_task_retries() -> None:
    book = ReplayBook(
        [
            started(2),
            failed(3, retry_at=at(60)),
            status(4, S.RUNNING, S.CANCELLED),
            status(5, S.CANCELLED, S.PENDING, attempt=2),
        ]
    )
    assert book.retry(PAY) is None


def test_completed_outcomes_survive_a_new_attempt() -> None:
    other = Address("ship", H2)
    book = ReplayBook(
        [
            started(2),
            completed(3, output="paid"),
            TaskStarted(at=at(4), task="ship", hash=H2),
            TaskFailed(at=at(5), task="ship", hash=H2, error=BOOM),
            status(6, S.RUNNING, S.FAILED, error=BOOM),
            status(7, S.FAILED, S.PENDING, attempt=2),
        ]
    )
    assert book.remaining == 1
    assert book.unconsumed() == [str(PAY)]
    assert book.take(other) is None
    assert book.take(PAY) == Outcome(output="paid")


def test_a_status_entry_that_keeps_the_attempt_forgets_nothing() -> None:
    book = ReplayBook(
        [
            started(2),
            failed(3),
            status(4, S.RUNNING, S.AWAITING_EVENT),
            status(5, S.AWAITING_EVENT, S.RUNNING),
        ]
    )
    assert book.take(PAY) == Outcome(error=BOOM)


# -- journal lines ------------------------------------------------------------------


NEW_ENTRIES: list[Entry] = [
    SleepStarted(at=at(1), name="nap", seq=1, until=at(3601)),
    SleepEnded(at=at(3601), name="nap", seq=1, woken=True),
    EventReceived(at=at(2), name="go", key="ref-abc", data={"x": [1, None]}, reference_id="r1"),
    EventReceived(at=at(2), name="go", key="000-ff", data=None),
    EventWaited(at=at(3), name="go", seq=2, until=at(63)),
    EventWaited(at=at(3), name="go", seq=3),
    EventTimedOut(at=at(63), name="go", seq=2),
    ChildStarted(at=at(4), seq=1, child=CHILD_A, workflow="ship", version="2.0.0"),
    ChildEnded(at=at(5), child=CHILD_A, status=S.COMPLETED, result={"ok": True}),
    ChildEnded(at=at(5), child=CHILD_B, status=S.FAILED, error=BOOM),
    failed(6, attempt=2, retry_at=at(66)),
    TaskFailed(
        at=at(6),
        task="pay",
        hash=H1,
        error=ErrorInfo(type="TaskFailed", message="m", task="pay"),
    ),
    status(7, S.RUNNING, S.SLEEPING, attempt=3, until=at(3601), worker="w1"),
    status(8, S.RUNNING, S.AWAITING_RETRY, until=at(68), error=BOOM, reason="workflow retry"),
    Recovered(at=at(9), count=2, worker="w2"),
]


@pytest.mark.parametrize("entry", NEW_ENTRIES, ids=lambda e: e.type)
def test_new_entries_round_trip(entry: Entry) -> None:
    line = dump_entry(entry)
    assert b"\n" not in line
    assert parse_entry(line) == entry
    assert parse_entry(line.decode()) == entry


def test_entry_lines_start_with_their_type_and_time() -> None:
    line = dump_entry(failed(6, retry_at=at(66))).decode()
    assert line.startswith('{"type":"task_failed","at":"2026-01-01T00:00:06Z"')
    assert '"retry_at":"2026-01-01T00:01:06Z"' in line


def test_a_status_line_names_its_ends_from_and_to() -> None:
    line = dump_entry(status(7, S.RUNNING, S.SLEEPING, until=at(10))).decode()
    assert '"from":"running","to":"sleeping"' in line
    assert '"until":"2026-01-01T00:00:10Z"' in line


def test_absent_optional_fields_are_left_out_of_the_line() -> None:
    line = dump_entry(EventWaited(at=at(3), name="go", seq=1)).decode()
    assert "until" not in line
    assert "retry_at" not in dump_entry(failed(6)).decode()
