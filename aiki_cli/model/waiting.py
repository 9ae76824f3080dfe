"""What a parked run waits for — a sleep, an event, a child, a retry or its delayed
start — read from its journal, for `status`, `list` and their `--json` (`waiting_for`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    EventReceived,
    EventTimedOut,
    EventWaited,
    SleepEnded,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
)
from .status import RunStatus

WaitKind = Literal["sleep", "event", "child", "retry", "start"]
WORKFLOW_RETRY = "workflow retry"  # the reason of the park that awaits a workflow's retry
_TASK_ENTRIES = (TaskStarted, TaskCompleted, TaskFailed)


class WaitingFor(BaseModel):
    """One wait: its kind, the sleep's, event's or task's name, when it is due (if ever),
    and the child run awaited."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: WaitKind
    name: str | None = None
    due: datetime | None = None
    child: str | None = None

    def describe(self) -> str:
        """The wait in words: `event approved`, `sleep cool-off`, `child run …`."""
        if self.kind == "child":
            return f"child run {self.child}"
        if self.kind == "retry":
            return f"retry of task {self.name}" if self.name else "retry of the workflow"
        if self.kind == "start":
            return "delayed start"
        return f"{self.kind} {self.name}"


class Waits:
    """The waits a journal leaves open, fed one entry at a time."""

    def __init__(self) -> None:
        self.sleeps: dict[tuple[str, int], SleepStarted] = {}
        self.events: dict[str, list[EventWaited]] = {}
        self.children: dict[str, ChildStarted] = {}
        self.retries: dict[tuple[str, str], TaskFailed] = {}
        self.workflow_retry: StatusChanged | None = None

    @classmethod
    def of_entries(cls, entries: Iterable[Entry]) -> Waits:
        waits = cls()
        for entry in entries:
            waits.note(entry)
        return waits

    def kept(self) -> list[Entry]:
        """The entries of the waits still open: noted in this order into new `Waits`, they
        give these back (a run's summary keeps them instead of the whole journal)."""
        kept: list[Entry] = [*self.sleeps.values()]
        kept += [wait for waits in self.events.values() for wait in waits]
        kept += [*self.children.values(), *self.retries.values()]
        if self.workflow_retry is not None:
            kept.append(self.workflow_retry)
        return kept

    def note(self, entry: Entry) -> None:
        # The entries of task calls first: they are most of any journal.
        if isinstance(entry, _TASK_ENTRIES):
            if self.retries:
                self.retries.pop((entry.task, entry.hash), None)
            if isinstance(entry, TaskFailed) and entry.retry_at is not None:
                self.retries[entry.task, entry.hash] = entry
        elif isinstance(entry, SleepStarted | SleepEnded):
            self._note_sleep(entry)
        elif isinstance(entry, EventWaited | EventReceived | EventTimedOut):
            self._note_event(entry)
        elif isinstance(entry, ChildStarted):
            self.children[entry.child] = entry
        elif isinstance(entry, ChildEnded):
            self.children.pop(entry.child, None)
        elif isinstance(entry, StatusChanged):
            self.workflow_retry = entry if entry.reason == WORKFLOW_RETRY else None

    def _note_sleep(self, entry: SleepStarted | SleepEnded) -> None:
        if isinstance(entry, SleepStarted):
            self.sleeps[entry.name, entry.seq] = entry
        else:
            self.sleeps.pop((entry.name, entry.seq), None)

    def _note_event(self, entry: EventWaited | EventReceived | EventTimedOut) -> None:
        """An event received ends the oldest open wait for its name (one sent before any
        wait is kept and ends none); a timeout ends its own."""
        waits = self.events.setdefault(entry.name, [])
        if isinstance(entry, EventWaited):
            waits.append(entry)
        elif isinstance(entry, EventReceived):
            del waits[:1]
        else:
            waits[:] = [wait for wait in waits if wait.seq != entry.seq]

    def of(self, status: RunStatus, due: datetime | None) -> WaitingFor | None:
        """What a run in `status`, due at `due`, waits for; None when it waits for nothing."""
        if status == RunStatus.SLEEPING and self.sleeps:
            sleep = min(self.sleeps.values(), key=lambda started: started.until)
            return WaitingFor(kind="sleep", name=sleep.name, due=sleep.until)
        if status == RunStatus.AWAITING_EVENT:
            return self._event()
        if status == RunStatus.AWAITING_CHILD and self.children:
            return WaitingFor(kind="child", child=next(iter(self.children)))
        if status == RunStatus.AWAITING_RETRY:
            return self._retry(due)
        if status == RunStatus.PENDING and due is not None:
            return WaitingFor(kind="start", due=due)
        return None

    def _event(self) -> WaitingFor | None:
        waits = [wait for open_waits in self.events.values() for wait in open_waits]
        if not waits:
            return None
        first = min(waits, key=lambda wait: wait.at)
        return WaitingFor(kind="event", name=first.name, due=first.until)

    def _retry(self, due: datetime | None) -> WaitingFor:
        if self.workflow_retry is not None or not self.retries:
            return WaitingFor(kind="retry", due=due)
        failed = min(self.retries.values(), key=lambda entry: entry.retry_at or entry.at)
        return WaitingFor(kind="retry", name=failed.task, due=failed.retry_at)
