"""The replay book: recorded task outcomes queued by content address (SPEC §3).

Each address (task name + input hash) holds the outcomes recorded for it, consumed in
order as the workflow's code calls the task again. What is left unconsumed when the code
asks for something new is the evidence of divergence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ..model.entry import Entry, ErrorInfo, StatusChanged, TaskCompleted, TaskFailed
from ..values.canonical import Address
from ..values.clock import set_back


class Outcome(NamedTuple):
    """A recorded task outcome: an output, or the error it failed with."""

    output: Any = None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class Retry:
    """A call whose last attempt failed and will be tried again."""

    failures: int
    at: datetime
    failed_at: datetime | None = None  # when the attempt failed, if known

    def due(self, now: datetime) -> datetime:
        """When the next attempt is due: at once if the failure was timed by a wall clock
        that has been set back since."""
        return now if self.failed_at is not None and set_back(self.failed_at, now) else self.at


class ReplayBook:
    """Failures recorded in an earlier attempt of the run are not outcomes: a retried run
    runs its failed tasks again and replays only what completed."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._queues: dict[Address, deque[Outcome]] = {}
        self._retries: dict[Address, Retry] = {}
        self.remaining = 0
        self.consumed = 0
        attempt = 1
        for entry in entries:
            if isinstance(entry, StatusChanged) and entry.attempt > attempt:
                attempt = entry.attempt
                self._forget_failures()
            elif isinstance(entry, TaskCompleted):
                self._add(Address(entry.task, entry.hash), Outcome(output=entry.output))
            elif isinstance(entry, TaskFailed) and entry.retry_at is None:
                self._add(Address(entry.task, entry.hash), Outcome(error=entry.error))
            elif isinstance(entry, TaskFailed) and entry.retry_at is not None:
                self.note_retry(Address(entry.task, entry.hash), entry.retry_at, entry.at)

    @property
    def replaying(self) -> bool:
        """True while recorded results remain to be replayed."""
        return self.remaining > 0

    def _forget_failures(self) -> None:
        for address, queue in self._queues.items():
            kept = deque(outcome for outcome in queue if outcome.error is None)
            self.remaining -= len(queue) - len(kept)
            self._queues[address] = kept
        self._retries.clear()

    def note_retry(self, address: Address, at: datetime, failed_at: datetime | None = None) -> None:
        """Record a failed attempt of the next call at `address` (at `failed_at`), to be
        tried again at `at`."""
        earlier = self._retries.get(address)
        self._retries[address] = Retry((earlier.failures if earlier else 0) + 1, at, failed_at)

    def settled(self, address: Address) -> None:
        """The call at `address` now has its outcome; later calls start from attempt one."""
        self._retries.pop(address, None)

    def retry(self, address: Address) -> Retry | None:
        """The pending retry of the next call at `address`, if its last attempt failed."""
        return self._retries.get(address)

    def _add(self, address: Address, outcome: Outcome) -> None:
        self._queues.setdefault(address, deque()).append(outcome)
        self._retries.pop(address, None)
        self.remaining += 1

    def take(self, address: Address) -> Outcome | None:
        """The next recorded outcome at `address`, or None when there is none left."""
        queue = self._queues.get(address)
        if not queue:
            return None
        self.remaining -= 1
        self.consumed += 1
        return queue.popleft()

    def unconsumed(self) -> list[str]:
        """The addresses still holding outcomes, as `task#hash` with a count when above one."""
        return [
            str(address) if len(queue) == 1 else f"{address} (x{len(queue)})"
            for address, queue in self._queues.items()
            if queue
        ]
