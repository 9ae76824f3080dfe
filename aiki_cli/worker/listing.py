"""A worker's listing of the ready queue: which runs it tries next, in what order, and
which it passes over for a while (damaged, broken, not its own).

Listing a long queue costs more than claiming a run, so one listing serves several
passes: the queue is listed again once worked through, or a poll interval after it was
listed (or at once, when the store told of a run queued), so that a run queued meanwhile
waits no longer than a poll.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Container

from ..store import Store


class Listing:
    def __init__(self, store: Store, poll_interval: float) -> None:
        self._store = store
        self._poll_interval = poll_interval
        self._queue: deque[str] = deque()  # ready runs listed, not yet tried
        self._relist_at = 0.0
        self._passed: dict[str, float] = {}  # run id: when to try it again
        self.met = False  # another worker is working through the same listing

    def stale(self) -> bool:
        """Due to be listed again: a poll interval passed, or a run was queued since."""
        return time.monotonic() >= self._relist_at

    def expire(self) -> None:
        """The store told of a run queued: list again at the next pass."""
        self._relist_at = 0.0

    def relist(self) -> None:
        self._queue = deque(self._store.ready_runs())
        self.met = False
        self._relist_at = time.monotonic() + self._poll_interval

    def take(self, count: int, held: Container[str]) -> list[str]:
        """Up to `count` runs to try next, none of them `held` or passed over; fewer once
        the listing is worked through."""
        now = time.monotonic()
        taken: list[str] = []
        while self._queue and len(taken) < count:
            run_id = self._queue.popleft()
            if run_id not in held and self._passed.get(run_id, 0) <= now:
                taken.append(run_id)
        return taken

    def pass_over(self, run_id: str, seconds: float) -> None:
        """Leave the run alone for `seconds` (forever: `math.inf`)."""
        self._passed[run_id] = time.monotonic() + seconds

    def scatter(self) -> None:
        """Another worker holds a run of this listing, so it is likely working through the
        same listing from the same end: the two would fail to claim each other's next run
        at every step. Go on from a random point of the listing instead; the runs skipped
        are tried after the rest, each first looked up in the queue, since the other worker
        may have executed it. A worker that meets no other keeps the queue's order."""
        self.met = True
        if len(self._queue) > 1:
            self._queue.rotate(-random.randrange(len(self._queue)))
