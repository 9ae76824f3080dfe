"""When an idle worker looks at the store again.

On a store that tells its workers (a database's `ServedStore.watch`: a run queued or a
timer set by any process), the worker looks when told, and polls only as a slow fallback
(`FALLBACK_POLL`), or when its next timer is due. Elsewhere it polls every
`poll_interval`. When the store cannot be reached, the worker says so once per outage
and looks again after a growing pause (`BACKOFF`), saying so once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from ..errors import StoreUnreachable
from ..store import ServedStore, Store
from ..values.clock import Clock

log = logging.getLogger("aiki.worker")

FALLBACK_POLL = 5.0  # seconds between looks when the store tells of every change
BACKOFF = (0.5, 1.0, 2.0, 5.0)  # pauses after failing to reach the store, then the last


class Wakeups:
    def __init__(self, store: Store, clock: Clock, poll_interval: float) -> None:
        self.store = store
        self.clock = clock
        self.poll_interval = poll_interval
        self.told = False  # the store tells of changes: polling is the fallback
        self._failures = 0

    @contextlib.contextmanager
    def watching(self, heard: Callable[[], None]) -> Iterator[None]:
        """While serving: `heard()` on the event loop whenever the store tells of a change."""
        if not isinstance(self.store, ServedStore):
            yield
            return
        loop = asyncio.get_running_loop()

        def told() -> None:  # in the store's listening thread
            loop.call_soon_threadsafe(heard)

        with self.store.watch(told):
            self.told = True
            try:
                yield
            finally:
                self.told = False

    def pause(self) -> float:
        """Seconds to wait for news before the next pass."""
        if self._failures:
            return BACKOFF[min(self._failures, len(BACKOFF)) - 1]
        if not self.told:
            return self.poll_interval
        due = self.store.next_due()
        until_due = FALLBACK_POLL if due is None else (due - self.clock.now()).total_seconds()
        return max(self.poll_interval, min(FALLBACK_POLL, until_due))

    def lost(self, error: StoreUnreachable) -> None:
        """A pass failed to reach the store: said on the first failure of an outage."""
        if not self._failures:
            log.error("lost the store: %s; trying again with a growing pause", error)
        self._failures += 1

    def reached(self) -> None:
        """A pass reached the store: the outage, if any, is over."""
        if self._failures:
            log.warning("the store is back after %d failed attempts", self._failures)
        self._failures = 0
