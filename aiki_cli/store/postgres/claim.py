"""A PostgreSQL claim: a session advisory lock on the run, held by the connection that
then does every write for the run.

When the worker's process or host dies, the server ends its session and the lock goes
with it: another worker claims the run at once, with no lease to wait out. A claim whose
connection is gone cannot write, so two workers never both write one journal.

Appended entries are held in memory (`entries` has them at once) and sent with the
claim's next write, in its transaction: `flush` sends them in one synchronous commit, one
round trip for all of a step's entries; every other write of the claim (the queue, a
timer, a request, mail, `release`) sends them first in its own transaction, so nothing
the run does elsewhere gets ahead of its journal. The engine flushes before anything acts
outside the run (a task's body, a child's start), so readers see a run's entries by then.
The look for requests at each task's boundary commits them too, asynchronously: a task's
result is stored before the next task starts, as when each append was a commit of its
own. Every write is one query of one or more statements: one transaction, one round trip.
A write that fails leaves the journal as it was (one transaction) and the claim unusable:
its held entries are never dropped silently, and every later call raises the same error.

Taking the run out of the queue commits asynchronously when no entry held was appended
with `sync`: the WAL is one sequence, so that write can only be lost to a crash of the
server together with nothing before it, and a run left queued is claimed again and put
right.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from ...errors import AikiError, RunNotFound
from ...model.entry import Entry, StatusChanged, dump_entry
from ...model.runinfo import RunSpec
from ..base import REQUESTS, Mail, Request
from .keys import lock_key
from .records import entries_of, letter_of, spec_of
from .session import Connection, Connections, translated

Statement = tuple[str, Sequence[Any] | dict[str, Any]]
_READ = (
    "SELECT spec, ARRAY(SELECT line FROM journal WHERE run_id = r.id ORDER BY seq)"
    " FROM runs r WHERE id = %s"
)
_APPEND = (
    "INSERT INTO journal (run_id, seq, line) SELECT %(run)s, %(first)s + n - 1, line"
    " FROM unnest(%(lines)s::text[]) WITH ORDINALITY AS added(line, n)"
)
_APPEND_STATUS = f"WITH added AS ({_APPEND}) UPDATE runs SET status = %(status)s WHERE id = %(run)s"
_LEAVE = (
    "UPDATE runs SET ready = false WHERE id = %s AND ready"
    " AND NOT EXISTS (SELECT 1 FROM requests WHERE run_id = %s)"
    " AND NOT EXISTS (SELECT 1 FROM mail WHERE run_id = %s AND NOT acked)"
)
_SYNC: Statement = ("SELECT set_config('synchronous_commit', 'on', true)", ())
_WAL: Statement = ("SELECT pg_logical_emit_message(true, 'aiki', '')", ())
Rows = list[tuple[Any, ...]]


class PostgresClaim:
    def __init__(
        self,
        connections: Connections,
        conn: Connection,
        key: int,
        spec: RunSpec,
        entries: list[Entry],
    ) -> None:
        self.spec = spec
        self.entries = entries
        self._connections = connections
        self._location = connections.target.location
        self._conn = conn
        self._key = key
        self._held = True
        self._lines: list[str] = []  # appended, not yet sent: the last of `entries`
        self._status: str | None = None  # the last status among them
        self._durable = False  # one of them was appended with `sync`
        self._wal = False  # entries appended with `sync` were sent, not yet flushed
        self._broken: AikiError | None = None  # a write failed: the claim is unusable
        # One connection, used by the run's branches on the event loop and by the group
        # commit's threads flushing it: one statement or transaction at a time.
        self._lock = threading.Lock()
        # The held entries, which a branch may append to while a thread sends the others.
        self._hold = threading.Lock()

    @classmethod
    def take(cls, conn: Connection, connections: Connections, run_id: str) -> PostgresClaim | None:
        """The run's claim on `conn`, or None when another session holds its lock."""
        target = connections.target
        key = lock_key(target.schema, "run", run_id)
        try:
            try:
                with conn.pipeline():  # the read starts once the lock is held: it sees all
                    locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                    read = conn.execute(_READ, (run_id,))
            except psycopg.Error:
                conn.close()  # with the lock, if it was taken before the read failed
                raise
            got = locked.fetchone()
            if not (got and got[0]):
                return None
            try:
                row = read.fetchone()
                if row is None:
                    raise RunNotFound(run_id, target.location)
                where = f"run {run_id} in {target.location}"
                return cls(
                    connections,
                    conn,
                    key,
                    spec_of(run_id, where, row[0]),
                    entries_of(run_id, where, row[1]),
                )
            except BaseException:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                raise
        except psycopg.Error as error:
            raise translated(target, error) from error

    def append(self, *entries: Entry, sync: bool = True) -> None:
        """Held until the claim's next write, which sends them (see the module)."""
        if self._broken is not None:
            raise self._broken
        lines = [dump_entry(e).decode() for e in entries]
        status = next((e.new for e in reversed(entries) if isinstance(e, StatusChanged)), None)
        with self._hold:  # not the connection: a thread may be sending the others
            self._lines.extend(lines)
            self.entries.extend(entries)
            self._status = self._status if status is None else str(status)
            self._durable = self._durable or sync

    @property
    def unsynced(self) -> bool:
        """True while entries are held (a flush sends them, whether appended with `sync`
        or not: readers see a run's entries once it flushed), or were sent by a look for
        requests and wait for the server's WAL flush."""
        return bool(self._lines) or self._wal

    def flush(self) -> None:
        if self._lines or self._wal or self._broken is not None:
            self._write(durable=True)

    def _held_rows(self) -> tuple[int, list[Statement]]:
        """How many entries are held, and the statement that sends them (and the run's
        status), if any; with none, a WAL flush still owed (a statement that writes WAL:
        a transaction that writes none does not wait for the flush)."""
        with self._hold:
            held = len(self._lines)
            if not held:
                return 0, [_WAL] if self._wal else []
            params = {
                "run": self.spec.id,
                "first": len(self.entries) - held,
                "lines": list(self._lines),
            }
            if self._status is not None:
                return held, [(_APPEND_STATUS, {**params, "status": self._status})]
            return held, [(_APPEND, params)]

    def _sent(self, held: int) -> None:
        """The first `held` entries held are stored (others may have been appended since)."""
        with self._hold:
            del self._lines[:held]
            if not self._lines:
                self._status, self._durable = None, False

    def _write(
        self, *statements: Statement, durable: bool = True, defer: bool = False
    ) -> list[Rows]:
        """The held entries, then `statements`, in one transaction: a synchronous commit,
        or, not `durable` and with no entry appended with `sync` waiting, an asynchronous
        one; `defer`red, always asynchronous, the next flush owing the WAL's. The rows
        each statement returned. A failure leaves the claim unusable."""
        with self._lock:
            if self._broken is not None:
                raise self._broken
            owed = self._durable or self._wal
            held, rows = self._held_rows()
            if not rows and not statements:
                return []  # flushed meanwhile, by another thread
            sync = [_SYNC] if (durable or owed) and not defer else []
            try:
                results = self._send([*sync, *rows, *statements])
            except psycopg.Error as error:
                self._broken = translated(self._connections.target, error)
                raise self._broken from error
            self._wal = owed and not sync
            self._sent(held)
            return results[len(sync) + len(rows) :]

    def _send(self, statements: list[Statement]) -> list[Rows]:
        """One round trip: the statements as one query, which the server runs as one
        transaction (all of it commits, or none); the rows each returned."""
        cursor = psycopg.ClientCursor(self._conn)
        try:
            query = "; ".join(cursor.mogrify(sql, params) for sql, params in statements)
            cursor.execute(query)
            results = []
            for _ in statements:
                results.append(cursor.fetchall() if cursor.description else [])
                cursor.nextset()
            return results
        finally:
            cursor.close()

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        """Sends the held entries with it, in an asynchronous commit (no round trip of
        their own): the engine looks at each task's boundary, so a task's result is stored
        before the next task starts, and a worker killed meanwhile does not lose it."""
        sql = "SELECT kind FROM requests WHERE run_id = %s AND kind = ANY(%s)"
        params = (self.spec.id, list(kinds))
        if self._lines:
            (rows,) = self._write((sql, params), durable=False, defer=True)
        else:
            rows = self._read(sql, params)
        return frozenset(row[0] for row in rows)

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """One query's rows (it sends no held entry: reading acts on nothing outside)."""
        try:
            with self._lock:
                if self._broken is not None:
                    raise self._broken
                return self._conn.execute(sql, params).fetchall()
        except psycopg.Error as error:
            raise translated(self._connections.target, error) from error

    def clear_request(self, kind: Request) -> None:
        self._write(("DELETE FROM requests WHERE run_id = %s AND kind = %s", (self.spec.id, kind)))

    def mail(self) -> list[Mail]:
        rows = self._read(
            "SELECT key, letter FROM mail WHERE run_id = %s AND NOT acked", (self.spec.id,)
        )
        where = f"letter {{}} of run {self.spec.id} in {self._location}"
        letters = [letter_of(self.spec.id, where.format(key), text) for key, text in rows]
        return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))

    def ack(self, mail: Mail) -> None:
        where = (self.spec.id, mail.key)
        if mail.reference_id is None:
            self._write(("DELETE FROM mail WHERE run_id = %s AND key = %s", where))
        else:  # its key stays, to refuse the same reference id again
            self._write(("UPDATE mail SET acked = true WHERE run_id = %s AND key = %s", where))

    def set_ready(self, ready: bool) -> None:
        """Out of the queue need not be durable by itself (see the module's docstring)."""
        sql = "UPDATE runs SET ready = %s WHERE id = %s AND ready <> %s"
        self._write((sql, (ready, self.spec.id, ready)), durable=ready)

    def set_timer(self, due: datetime | None) -> None:
        if due is None:
            sql = "DELETE FROM timers WHERE kind = 'run' AND target = %s"
            self._write((sql, (self.spec.id,)))
            return
        sql = (
            "INSERT INTO timers (kind, target, due) VALUES ('run', %s, %s)"
            " ON CONFLICT (kind, target) DO UPDATE SET due = excluded.due"
        )
        self._write((sql, (self.spec.id, due)))

    def leave_queue(self) -> None:
        """Lock the run's row first: a poster queueing it meanwhile either waits for this,
        then queues it again, or has committed its letter, which the next statement sees.
        One query: the second statement still starts (and takes its snapshot) only after
        the first has locked the row."""
        run = self.spec.id
        locked, _ = self._write(
            ("SELECT 1 FROM runs WHERE id = %s FOR UPDATE", (run,)),
            (_LEAVE, (run, run, run)),
            durable=False,
        )
        if not locked:
            raise RunNotFound(run, self._location)

    def release(self) -> None:
        if not self._held:  # a second release must not free a later claim of the run
            return
        self._held = False
        if self._broken is not None:  # a write raised already; its session is of no use
            self._conn.close()
            self._connections.give_back(self._conn)
            if self._lines:  # never stored: say so again rather than drop them quietly
                raise self._broken
            return
        try:
            self.flush()
        except BaseException:
            self._conn.close()  # the lock goes with the session; held entries are not lost
            self._connections.give_back(self._conn)  # silently: the flush raised
            raise
        try:
            with self._lock:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except psycopg.Error:
            self._conn.close()  # the session is gone, and its lock with it
        self._connections.give_back(self._conn)
