"""Live workers: a worker registers by taking an advisory lock on its id on a connection
of its own, kept open while it lives; `live_workers` lists the registrations whose lock
is still held, so a dead worker's (its session ended) is no longer listed.

A registration outlives its connection: a thread blocks on the connection's socket, and
when the server drops it (a restart, a terminated session) registers the worker again on
a new one, with a growing pause while the server is away.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import psycopg

from ...errors import AikiError
from .connect import Target
from .keys import halves
from .session import Connection, Connections, translated
from .waiting import Stop

log = logging.getLogger("aiki.worker")

_BACKOFF = (0.5, 1.0, 2.0, 5.0)  # pauses before registering again, then the last one
_HELD = """
    SELECT info FROM workers w WHERE EXISTS (
        SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = w.lock_hi::oid AND l.objid = w.lock_lo::oid)
    ORDER BY id COLLATE "C"
"""


class Roster:
    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    @contextlib.contextmanager
    def register(self, key: int, worker_id: str, info: dict[str, Any]) -> Iterator[None]:
        conn = self._connections.own()
        try:
            _enter(conn, key, worker_id, info)
        except psycopg.Error as error:
            conn.close()
            raise translated(self._connections.target, error) from error
        except BaseException:
            conn.close()
            raise
        kept = _Kept(self._connections.target, conn, key, worker_id, info)
        try:
            yield
        finally:
            kept.sign_off()

    def live(self) -> list[dict[str, Any]]:
        with self._connections.shared() as conn:
            rows = conn.execute(_HELD).fetchall()
        return [json.loads(row[0]) for row in rows]


def _enter(conn: Connection, key: int, worker_id: str, info: dict[str, Any]) -> None:
    """Take the worker's lock and write its row, on `conn`."""
    with conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not (got and got[0]):
            raise RuntimeError(f"worker id {worker_id} is already in use")
        hi, lo = halves(key)
        conn.execute(
            "INSERT INTO workers (id, info, lock_hi, lock_lo) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET info = excluded.info",
            (worker_id, json.dumps(info), hi, lo),
        )


class _Kept:
    """A registration, made again by a thread of its own whenever its connection goes."""

    def __init__(
        self, target: Target, conn: Connection, key: int, worker_id: str, info: dict[str, Any]
    ) -> None:
        self._target = target
        self._conn = conn
        self._key = key
        self._id = worker_id
        self._info = info
        self._stop = Stop()
        self._thread = threading.Thread(target=self._keep, name="aiki-roster", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stop.is_set() and self._stop.readable(self._conn.fileno()):
            try:  # the server said something: a notice, or that it is closing
                self._conn.execute("SELECT 1")
            except psycopg.Error:
                self._conn.close()
                self._again()

    def _again(self) -> None:
        """Register on a new connection, pausing longer after each failure, until stopped."""
        failures = 0
        while not self._stop.wait(_BACKOFF[min(failures, len(_BACKOFF) - 1)] if failures else 0):
            try:
                conn = self._target.connect()
            except AikiError:
                failures += 1
                continue
            try:
                _enter(conn, self._key, self._id, self._info)
            except (psycopg.Error, RuntimeError) as error:
                conn.close()
                if not failures:
                    log.warning("worker %s could not register again: %s", self._id, error)
                failures += 1
                continue
            self._conn = conn
            log.debug("worker %s registered again in %s", self._id, self._target.location)
            return

    def sign_off(self) -> None:
        """Stop keeping it, remove the registration and let go of the lock; a connection
        already gone took the lock with it, and the row is no longer listed."""
        self._stop.set()
        self._thread.join()
        self._stop.close()
        with contextlib.suppress(psycopg.Error):
            self._conn.execute("DELETE FROM workers WHERE id = %s", (self._id,))
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        self._conn.close()
