"""A run's journal as spans on a time axis: each task attempt, sleep, event wait and child
run from when it began to when it ended (or still open), with its outcome. What a
waterfall draws; any face (the web UI, a terminal) renders it its own way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    EventReceived,
    EventTimedOut,
    EventWaited,
    SleepEnded,
    SleepStarted,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)

SpanKind = Literal["task", "sleep", "event", "child"]


@dataclass(frozen=True)
class Span:
    """One bar: `end` is None while it is still open; `outcome` is `completed`, `failed`,
    `retrying`, `interrupted`, `open`, `woken`, `slept`, `received`, `timed_out` or the
    status a child ended in."""

    kind: SpanKind
    name: str
    start: datetime
    end: datetime | None
    outcome: str
    attempt: int = 1
    ref: str = ""  # the child's run id, the event's key


def spans(entries: Sequence[Entry], *, live: bool) -> list[Span]:
    """The spans of a journal, in the order they began. Spans left open are `open` when
    the run is `live` (still executing or parked), else `interrupted`."""
    closed: list[tuple[int, Span]] = []
    open_: dict[tuple[str, str, int], tuple[int, Span]] = {}
    for order, entry in enumerate(entries):
        opened = _opens(entry)
        if opened is not None:
            key, span = opened
            if key in open_:  # started again after a crash: the first never ended
                first_order, first = open_.pop(key)
                closed.append((first_order, _close(first, entry.at, "interrupted")))
            open_[key] = (order, span)
            continue
        ended = _ends(entry, open_)
        if ended is not None:
            key, outcome = ended
            first_order, span = open_.pop(key)
            closed.append((first_order, _close(span, entry.at, outcome)))
    leftover = "open" if live else "interrupted"
    for first_order, span in open_.values():
        closed.append((first_order, span if live else _close(span, None, leftover)))
    return [span for _, span in sorted(closed, key=lambda pair: pair[0])]


def _close(span: Span, end: datetime | None, outcome: str) -> Span:
    return Span(span.kind, span.name, span.start, end, outcome, span.attempt, span.ref)


def _opens(entry: Entry) -> tuple[tuple[str, str, int], Span] | None:
    if isinstance(entry, TaskStarted):
        key = ("task", f"{entry.task}/{entry.hash}", entry.attempt)
        return key, Span("task", entry.task, entry.at, None, "open", entry.attempt)
    if isinstance(entry, SleepStarted):
        return ("sleep", entry.name, entry.seq), Span("sleep", entry.name, entry.at, None, "open")
    if isinstance(entry, EventWaited):
        return ("event", entry.name, entry.seq), Span("event", entry.name, entry.at, None, "open")
    if isinstance(entry, ChildStarted):
        label = f"{entry.workflow}@{entry.version}"
        span = Span("child", label, entry.at, None, "open", ref=entry.child)
        return ("child", entry.child, 0), span
    return None


def _ends(
    entry: Entry, open_: dict[tuple[str, str, int], tuple[int, Span]]
) -> tuple[tuple[str, str, int], str] | None:
    """The open span `entry` ends and its outcome; None when it ends none."""
    if isinstance(entry, TaskCompleted | TaskFailed):
        key = ("task", f"{entry.task}/{entry.hash}", entry.attempt)
        if isinstance(entry, TaskCompleted):
            outcome = "completed"
        else:
            outcome = "retrying" if entry.retry_at is not None else "failed"
        return (key, outcome) if key in open_ else None
    if isinstance(entry, SleepEnded):
        key = ("sleep", entry.name, entry.seq)
        return (key, "woken" if entry.woken else "slept") if key in open_ else None
    if isinstance(entry, EventTimedOut):
        key = ("event", entry.name, entry.seq)
        return (key, "timed_out") if key in open_ else None
    if isinstance(entry, EventReceived):
        waits = sorted(key for key in open_ if key[0] == "event" and key[1] == entry.name)
        return (waits[0], "received") if waits else None
    if isinstance(entry, ChildEnded):
        key = ("child", entry.child, 0)
        return (key, str(entry.status)) if key in open_ else None
    return None


@dataclass(frozen=True)
class Axis:
    """The time axis of a waterfall, from `start` to `end`: where a span sits on it, in
    hundredths of its width."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.001)

    def offset(self, moment: datetime) -> float:
        """How far into the axis `moment` is, 0 to 100."""
        share = (moment - self.start).total_seconds() / self.seconds
        return min(max(share * 100, 0.0), 100.0)

    def place(self, span: Span) -> tuple[float, float]:
        """The span's left edge and width, in hundredths of the axis (an open span runs
        to its end); a zero-length span keeps a sliver, so it can be seen."""
        left = self.offset(span.start)
        right = self.offset(span.end or self.end)
        return left, max(right - left, 0.4)

    def ticks(self, count: int = 4) -> list[tuple[float, float]]:
        """`count` + 1 evenly spaced marks: each one's place (0 to 100) and seconds."""
        return [(100 * n / count, self.seconds * n / count) for n in range(count + 1)]
