"""Flushes off the claim session: the synchronous commits that make claims' appends
durable are made on a few flush connections of the store's, so that the group commit's
threads wait for the disk while the event loop goes on using the session.

Why a flush needs no particular connection: the server's WAL is one sequence, and a
synchronous commit returns once the WAL is flushed up to its own commit record. An
append committed (asynchronously) on the session before the flush began has its commit
record earlier in that sequence, so it is on disk when the flush returns, whichever
connection made the flush. A flush writes no run data (an empty logical message), so it
takes no run's lock and cannot write beside another worker.

What another connection cannot tell by itself is whether those appends still exist: a
server that crashed and restarted since has lost the asynchronous commits it had not
flushed, and a flush on a fresh connection would succeed over nothing. So the flush's
statement also tries the lock the session took when it opened (its token): still held
by another session, the session is alive at the flush, the server has not restarted
since the appends, and the flush covers them; free, the flush fails the claims it
covered and the session is marked lost (its locks went with its backend). The try is a
transaction's lock, let go at once by the flush's own commit. (Looking the session's
backend up in `pg_stat_get_activity` costs the server ~0.1 ms a flush.) A flush
connection holds no lock of its own: one found broken is replaced.
"""

from __future__ import annotations

import threading

import psycopg

from .claim_session import ClaimSession
from .session import Connection, Connections, translated

KEPT = 4  # idle flush connections kept: the group commit's threads
_FLUSH = (
    "SELECT set_config('synchronous_commit', 'on', true),"
    " pg_logical_emit_message(true, 'aiki', ''),"
    " NOT pg_try_advisory_xact_lock(%s)"
)


class Flushers:
    """The store's flush connections: taken by one flush at a time, kept for the next."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def flush(self, session: ClaimSession) -> None:
        """Flush the server's WAL past every commit made so far, the session's appends
        among them. `StoreUnreachable` when the session's backend is gone (then the
        session is lost) or no flush connection could be made or used."""
        if session.broken:
            raise session.gone()
        if not self._flushed(session):
            session.lost()
            raise session.gone()

    def _flushed(self, session: ClaimSession) -> bool:
        """Flush; whether the session's backend was alive at the flush."""
        conn, reused = self._take()
        try:
            row = conn.execute(_FLUSH, (session.token,)).fetchone()
        except psycopg.Error as error:
            if not conn.broken:
                self._keep(conn)
            else:
                conn.close()
                if reused:  # the server dropped it while it was idle: a fresh one
                    return self._flushed(session)
            raise translated(self._connections.target, error) from error
        self._keep(conn)
        return bool(row and row[2])

    def _take(self) -> tuple[Connection, bool]:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn, True
        return self._connections.new_async(), False

    def _keep(self, conn: Connection) -> None:
        with self._lock:
            if not conn.closed and not conn.broken and len(self._idle) < KEPT:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
