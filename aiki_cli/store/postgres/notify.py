"""LISTEN/NOTIFY wake-ups: idle workers hear at once that a run was queued or a timer set.

A trigger on `runs` (a run made ready) and on `timers` (a due time set) notifies the
schema's channel; a `Listener` thread holds a connection listening on it and calls its
`wake` as soon as notifications arrive (the thread blocks on the connection's socket, not
a timed poll, and is woken at once to stop). A lost connection is made again, with a
growing pause; meanwhile the worker's slow poll still finds everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

import psycopg

from ...errors import AikiError
from .connect import Target
from .waiting import Stop

log = logging.getLogger("aiki.worker")

_BACKOFF = (0.5, 1.0, 2.0, 5.0)  # pauses before connecting again, then the last one


class Listener:
    """A thread calling `wake` on each notification of `channel`, while open."""

    def __init__(self, target: Target, channel: str, wake: Callable[[], None]) -> None:
        self._target = target
        self._channel = channel
        self._wake = wake
        self._stop = Stop()
        self._thread = threading.Thread(target=self._listen, name="aiki-listen", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._stop.close()

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with self._target.connect() as conn:
                    conn.execute(f'LISTEN "{self._channel}"')
                    if failures:
                        log.debug("listening to %s again", self._target.location)
                    failures = 0
                    self._wake()  # anything queued while not listening
                    self._serve(conn)
            except (psycopg.Error, AikiError) as error:
                if not failures:
                    log.warning(
                        "lost the wake-ups of %s (%s); polling meanwhile",
                        self._target.location,
                        error,
                    )
                self._stop.wait(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
                failures += 1

    def _serve(self, conn: psycopg.Connection[object]) -> None:
        """Wake on each batch of notifications as it arrives, until stopped."""
        while self._stop.readable(conn.fileno()):
            if any(True for _ in conn.notifies(timeout=0)):
                self._wake()
