"""A PostgreSQL claim: a session advisory lock on the run, held by the connection that
then does every write for the run.

When the worker's process or host dies, the server ends its session and the lock goes
with it: another worker claims the run at once, with no lease to wait out. A claim whose
connection is gone cannot write, so two workers never both write one journal.

Every write of the claim commits asynchronously (the server does not wait for its WAL
to reach the disk), which makes it visible at once and cheap; `flush` (and `release`)
is one synchronous commit, which flushes the WAL up to it and so every write before it.
The WAL is one ordered log: a server that crashes keeps a prefix of the claim's writes,
so nothing the run did outside its journal (a timer, a letter acknowledged, leaving the
queue) survives without the journal entries written before it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

import psycopg

from ...model.entry import Entry, StatusChanged, dump_entry
from ...model.runinfo import RunSpec
from ..base import REQUESTS, Mail, Request
from .keys import lock_key
from .records import entries_of, letter_of, spec_of
from .rows import force_flush, read_locked, run_row_locked
from .session import Connection, Connections, translated

# The entries' lines numbered on from the journal's length, and the run's status column
# set when the new status is not null.
_APPEND = """
    WITH added AS (
        INSERT INTO journal (run_id, seq, line)
        SELECT %s, %s + n - 1, line FROM unnest(%s::text[]) WITH ORDINALITY AS t(line, n)
    )
    UPDATE runs SET status = s.status
    FROM (SELECT %s::text AS status) s
    WHERE id = %s AND s.status IS NOT NULL
"""


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
        self._unsynced = False
        self._pending: list[str] = []  # lines appended, not yet sent to the server
        self._status: str | None = None  # the last status among them
        self._sent = len(entries)  # lines the server has
        self._lock = threading.Lock()  # the connection and the pending lines

    @classmethod
    def take(cls, conn: Connection, connections: Connections, run_id: str) -> PostgresClaim | None:
        """The run's claim on `conn`, or None when another session holds its lock."""
        target = connections.target
        key = lock_key(target.schema, "run", run_id)
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (got and got[0]):
                return None
            try:
                with conn.transaction():
                    spec_text, lines = read_locked(conn, run_id, target.location)
                where = f"run {run_id} in {target.location}"
                spec = spec_of(run_id, where, spec_text)
                claim = cls(connections, conn, key, spec, entries_of(run_id, where, lines))
                connections.held[run_id] = claim
                return claim
            except BaseException:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                raise
        except psycopg.Error as error:
            raise translated(target, error) from error

    def _fail(self, error: psycopg.Error) -> Exception:
        return translated(self._connections.target, error)

    def append(self, *entries: Entry, sync: bool = True) -> None:
        """Kept here until the next flush or write sends them, with it, in one round trip
        (the store's own reads send them first)."""
        status = next((e.new for e in reversed(entries) if isinstance(e, StatusChanged)), None)
        with self._lock:
            self._pending.extend(dump_entry(entry).decode() for entry in entries)
            self._status = self._status if status is None else str(status)
        self.entries.extend(entries)
        self._unsynced = self._unsynced or sync

    def _send_locked(self) -> None:
        """Send the pending lines (and the status they leave the run in) to the server."""
        if not self._pending:
            return
        self._conn.execute(
            _APPEND, (self.spec.id, self._sent, self._pending, self._status, self.spec.id)
        )
        self._sent += len(self._pending)
        self._pending, self._status = [], None

    def send(self) -> None:
        """Send the pending lines, committed without waiting for the disk."""
        with self._lock:
            try:
                self._send_locked()
            except psycopg.Error as error:
                raise self._fail(error) from error

    @property
    def unsynced(self) -> bool:
        return self._unsynced

    def synced(self) -> None:
        """The store flushed the server's WAL past this claim's appends."""
        self._unsynced = False

    def flush(self) -> None:
        with self._lock:
            if not (self._unsynced or self._pending):
                return
            try:
                with self._conn.pipeline():
                    self._send_locked()
                    force_flush(self._conn)
            except psycopg.Error as error:
                raise self._fail(error) from error
        self._unsynced = False

    def _write(self, sql: str, *params: object) -> None:
        """One write outside the journal, sent after the pending lines in one round trip
        and committed as they are: durable, with them, by the next flush (or `release`)."""
        with self._lock:
            try:
                with self._conn.pipeline():
                    self._send_locked()
                    self._conn.execute(sql, params)
            except psycopg.Error as error:
                raise self._fail(error) from error
        self._unsynced = True

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT kind FROM requests WHERE run_id = %s AND kind = ANY(%s)",
                    (self.spec.id, list(kinds)),
                ).fetchall()
        except psycopg.Error as error:
            raise self._fail(error) from error
        return frozenset(row[0] for row in rows)

    def clear_request(self, kind: Request) -> None:
        self._write("DELETE FROM requests WHERE run_id = %s AND kind = %s", self.spec.id, kind)

    def mail(self) -> list[Mail]:
        try:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT key, letter FROM mail WHERE run_id = %s AND NOT acked", (self.spec.id,)
                ).fetchall()
        except psycopg.Error as error:
            raise self._fail(error) from error
        where = f"letter {{}} of run {self.spec.id} in {self._location}"
        letters = [letter_of(self.spec.id, where.format(key), text) for key, text in rows]
        return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))

    def ack(self, mail: Mail) -> None:
        if mail.reference_id is None:
            self._write("DELETE FROM mail WHERE run_id = %s AND key = %s", self.spec.id, mail.key)
        else:  # its key stays, to refuse the same reference id again
            self._write(
                "UPDATE mail SET acked = true WHERE run_id = %s AND key = %s",
                self.spec.id,
                mail.key,
            )

    def set_ready(self, ready: bool) -> None:
        self._write(
            "UPDATE runs SET ready = %s WHERE id = %s AND ready <> %s", ready, self.spec.id, ready
        )

    def set_timer(self, due: datetime | None) -> None:
        if due is None:
            self._write("DELETE FROM timers WHERE kind = 'run' AND target = %s", self.spec.id)
        else:
            self._write(
                "INSERT INTO timers (kind, target, due) VALUES ('run', %s, %s)"
                " ON CONFLICT (kind, target) DO UPDATE SET due = excluded.due",
                self.spec.id,
                due,
            )

    def leave_queue(self) -> None:
        """Lock the run's row first: a poster queueing it meanwhile either waits for this,
        then queues it again, or has committed its letter, which the next statement sees."""
        try:
            with self._lock, self._conn.transaction():
                self._send_locked()
                run_row_locked(self._conn, self.spec.id, self._location)
                self._conn.execute(
                    "UPDATE runs SET ready = false WHERE id = %s AND ready"
                    " AND NOT EXISTS (SELECT 1 FROM requests WHERE run_id = %s)"
                    " AND NOT EXISTS (SELECT 1 FROM mail WHERE run_id = %s AND NOT acked)",
                    (self.spec.id, self.spec.id, self.spec.id),
                )
        except psycopg.Error as error:
            raise self._fail(error) from error
        self._unsynced = True

    def release(self) -> None:
        if not self._held:  # a second release must not free a later claim of the run
            return
        self._held = False
        self._connections.held.pop(self.spec.id, None)
        try:
            self.flush()
        except BaseException:
            self._conn.close()
            raise
        try:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        except psycopg.Error:
            self._conn.close()  # the session is gone, and its lock with it
            return
        self._connections.give_back(self._conn)
