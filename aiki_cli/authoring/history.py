"""What a run's journal says about its sleeps, event waits and children: the record that
the run's code, replayed, matches its calls against by name and occurrence (tasks are
matched by content address in the replay book, `replay.py`); and `EventResult`, what an
event wait gives back."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from ..model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    EventReceived,
    EventTimedOut,
    EventWaited,
    SleepEnded,
    SleepStarted,
    StatusChanged,
)
from ..model.status import RunStatus


@dataclass(frozen=True)
class EventResult:
    """What `run.wait_for_event` returns: the event's data, or that the wait timed out."""

    name: str
    data: Any = None
    timed_out: bool = False

    @property
    def received(self) -> bool:
        return not self.timed_out


class History:
    """What the journal says about the run's sleeps, event waits and children."""

    def __init__(self, entries: list[Entry]) -> None:
        self.sleeps_started: dict[tuple[str, int], SleepStarted] = {}
        self.sleeps_ended: dict[tuple[str, int], SleepEnded] = {}
        self.waits: dict[tuple[str, int], EventWaited] = {}
        self.timeouts: set[tuple[str, int]] = set()
        self.events: dict[str, deque[EventReceived]] = {}
        self.children: dict[int, ChildStarted] = {}
        self.ended: dict[str, ChildEnded] = {}
        attempt = 1
        for entry in entries:
            if isinstance(entry, StatusChanged) and entry.attempt > attempt:
                attempt = entry.attempt
                self._forget_failed_children()
            else:
                self._note(entry)

    def _note(self, entry: Entry) -> None:
        if isinstance(entry, SleepStarted):
            self.sleeps_started[entry.name, entry.seq] = entry
        elif isinstance(entry, SleepEnded):
            self.sleeps_ended[entry.name, entry.seq] = entry
        elif isinstance(entry, EventWaited):
            self.waits[entry.name, entry.seq] = entry
        elif isinstance(entry, EventTimedOut):
            self.timeouts.add((entry.name, entry.seq))
        elif isinstance(entry, EventReceived):
            self.events.setdefault(entry.name, deque()).append(entry)
        elif isinstance(entry, ChildStarted):
            self.children[entry.seq] = entry
        elif isinstance(entry, ChildEnded):
            self.ended[entry.child] = entry

    def _forget_failed_children(self) -> None:
        """A retried run starts anew the children that did not complete."""
        for seq, started in list(self.children.items()):
            ended = self.ended.get(started.child)
            if ended is None or ended.status != RunStatus.COMPLETED:
                del self.children[seq]
                self.ended.pop(started.child, None)

    def take_event(self, name: str) -> EventReceived | None:
        queue = self.events.get(name)
        return queue.popleft() if queue else None
