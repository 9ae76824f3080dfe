"""A journal as spans on a time axis (`model.timeline`): what the dashboard's waterfall
draws. Attempts are bars of their own; waits end by what ended them; what a dead worker
left open is `interrupted` once the run has ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiki_cli.model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    ErrorInfo,
    EventReceived,
    EventTimedOut,
    EventWaited,
    SleepEnded,
    SleepStarted,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from aiki_cli.model.status import RunStatus
from aiki_cli.model.timeline import Axis, Span, spans

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
BOOM = ErrorInfo(type="ValueError", message="boom")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def outline(found: list[Span]) -> list[tuple[str, str, int, float, float | None, str]]:
    return [
        (
            s.kind,
            s.name,
            s.attempt,
            (s.start - T0).total_seconds(),
            None if s.end is None else (s.end - T0).total_seconds(),
            s.outcome,
        )
        for s in found
    ]


def test_each_attempt_of_a_task_is_a_span() -> None:
    journal: list[Entry] = [
        TaskStarted(at=at(1), task="pay", hash="h"),
        TaskFailed(at=at(2), task="pay", hash="h", error=BOOM, retry_at=at(3)),
        TaskStarted(at=at(3), task="pay", hash="h", attempt=2),
        TaskFailed(at=at(4), task="pay", hash="h", error=BOOM, attempt=2),
        TaskStarted(at=at(5), task="ship", hash="s"),
        TaskCompleted(at=at(6), task="ship", hash="s"),
    ]
    assert outline(spans(journal, live=False)) == [
        ("task", "pay", 1, 1, 2, "retrying"),
        ("task", "pay", 2, 3, 4, "failed"),
        ("task", "ship", 1, 5, 6, "completed"),
    ]


def test_sleeps_event_waits_and_children_end_by_what_ended_them() -> None:
    journal: list[Entry] = [
        SleepStarted(at=at(1), name="nap", seq=1, until=at(9)),
        SleepEnded(at=at(2), name="nap", seq=1, woken=True),
        SleepStarted(at=at(2), name="nap", seq=2, until=at(3)),
        SleepEnded(at=at(3), name="nap", seq=2),
        EventWaited(at=at(3), name="ok", seq=1),
        EventReceived(at=at(4), name="ok", key="k"),
        EventWaited(at=at(4), name="late", seq=1, until=at(5)),
        EventTimedOut(at=at(5), name="late", seq=1),
        ChildStarted(at=at(5), seq=1, child="c1", workflow="w", version="1.0.0"),
        ChildEnded(at=at(7), child="c1", status=RunStatus.FAILED),
    ]
    assert outline(spans(journal, live=False)) == [
        ("sleep", "nap", 1, 1, 2, "woken"),
        ("sleep", "nap", 1, 2, 3, "slept"),
        ("event", "ok", 1, 3, 4, "received"),
        ("event", "late", 1, 4, 5, "timed_out"),
        ("child", "w@1.0.0", 1, 5, 7, "failed"),
    ]
    assert spans(journal, live=False)[-1].ref == "c1"


def test_what_is_still_open_is_open_while_live_and_interrupted_after() -> None:
    journal: list[Entry] = [
        TaskStarted(at=at(1), task="pay", hash="h"),
        TaskStarted(at=at(2), task="pay", hash="h"),  # a new worker, after a crash
        EventWaited(at=at(3), name="ok", seq=1),
    ]
    assert outline(spans(journal, live=True)) == [
        ("task", "pay", 1, 1, 2, "interrupted"),
        ("task", "pay", 1, 2, None, "open"),
        ("event", "ok", 1, 3, None, "open"),
    ]
    assert [s.outcome for s in spans(journal, live=False)] == ["interrupted"] * 3


def test_an_event_received_with_no_wait_open_ends_nothing() -> None:
    journal: list[Entry] = [EventReceived(at=at(1), name="early", key="k")]
    assert spans(journal, live=True) == []


def test_the_axis_places_spans_in_hundredths() -> None:
    axis = Axis(T0, at(10))
    assert axis.place(Span("task", "a", at(2), at(7), "completed")) == (20.0, 50.0)
    assert axis.place(Span("task", "a", at(9), None, "open")) == (90.0, 10.0)  # to the end
    assert axis.place(Span("task", "a", at(5), at(5), "completed")) == (50.0, 0.4)
    assert axis.offset(at(-1)) == 0.0 and axis.offset(at(11)) == 100.0
    assert axis.ticks(2) == [(0.0, 0.0), (50.0, 5.0), (100.0, 10.0)]
    assert Axis(T0, T0).seconds > 0  # a run of no length still has an axis
