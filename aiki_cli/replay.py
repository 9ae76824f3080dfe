"""The replay book: recorded task outcomes queued by content address (SPEC §3).

Each address (task name + input hash) holds the outcomes recorded for it, consumed in
order as the workflow's code calls the task again. What is left unconsumed when the code
asks for something new is the evidence of divergence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .canonical import Address
from .entry import Entry, ErrorInfo, TaskCompleted, TaskFailed


@dataclass(frozen=True)
class Outcome:
    """A recorded task outcome: an output, or the error it failed with."""

    output: Any = None
    error: ErrorInfo | None = None


class ReplayBook:
    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._queues: dict[Address, deque[Outcome]] = {}
        self.remaining = 0
        self.consumed = 0
        for entry in entries:
            if isinstance(entry, TaskCompleted):
                self._add(Address(entry.task, entry.hash), Outcome(output=entry.output))
            elif isinstance(entry, TaskFailed):
                self._add(Address(entry.task, entry.hash), Outcome(error=entry.error))

    def _add(self, address: Address, outcome: Outcome) -> None:
        self._queues.setdefault(address, deque()).append(outcome)
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
