"""Live workers: a worker registers by taking an advisory lock on its id on a connection
of its own, kept open while it lives; `live_workers` lists the registrations whose lock
is still held, so a dead worker's (its session ended) is no longer listed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import psycopg

from .keys import halves
from .session import Connections, translated

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
        conn = self._connections.take(synchronous=True)
        try:
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
        except psycopg.Error as error:
            conn.close()
            raise translated(self._connections.target, error) from error
        except BaseException:
            conn.close()
            raise
        try:
            yield
        finally:
            self._sign_off(conn, key, worker_id)

    def _sign_off(self, conn: psycopg.Connection[Any], key: int, worker_id: str) -> None:
        """Remove the registration and let go of the lock; a connection already gone took
        the lock with it, and the row is no longer listed."""
        with contextlib.suppress(psycopg.Error):
            conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        conn.close()

    def live(self) -> list[dict[str, Any]]:
        with self._connections.shared() as conn:
            rows = conn.execute(_HELD).fetchall()
        return [json.loads(row[0]) for row in rows]
