"""A PostgreSQL claim: a session advisory lock on the run, held by the store's claim
session (`claim_session`: one connection for all of a store's claims), which then does
every write for the run.

When the worker's process or host dies, the server ends its session and the lock goes
with it: another worker claims the run at once, with no lease to wait out. A claim whose
connection is gone cannot write, so two workers never both write one journal.

Appends commit asynchronously (the server does not wait for its WAL to reach the disk),
which makes them visible at once and cheap; `flush` is one synchronous commit, which
flushes the WAL up to it and so every append before it (made on a flush connection, not
the session: `flushes` says why that is enough). Every other write of the claim
is a synchronous commit too, so nothing the run does elsewhere gets ahead of its journal
— except taking the run out of the queue when no append waits for a flush: the WAL is
one sequence, so that write can only be lost to a crash of the server together with
nothing before it, and a run left queued is claimed again and put right.

Each call is one round trip: a single statement where it is the whole transaction (an
append, its status too, is one INSERT … UPDATE), else one query of its statements
(`queries`); taking an ended or paused run out of the queue, its last write, goes with
the claim's release (`set_ready(False, at_release=True)`). Taking the claim reads the
run, its mail and its requests with the lock: the engine's first look (`inbox`,
`requested`) costs no round trip of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import psycopg

from ...errors import RunNotFound, StoreUnwritable
from ...model.entry import Entry, StatusChanged, dump_entry
from ...model.runinfo import RunSpec
from ..base import REQUESTS, Mail, Request
from .claim_session import ClaimSession
from .connect import Target
from .flushes import Flushers
from .keys import lock_key
from .queries import Statements, appending, results
from .records import entries_of, letter_of, spec_of

_READS = "EXECUTE aiki_read(%s); EXECUTE aiki_mail(%s); EXECUTE aiki_requested(%s)"
_CLAIM = f"SELECT pg_try_advisory_lock(%s); {_READS}"
# The lock is tried only on a queued run (no row otherwise: the reads after it go to
# waste). The statement sees the ready flag as it was before the lock was taken: the
# claim's `queued`, read once the lock is held, is what decides.
_CLAIM_QUEUED = f"SELECT pg_try_advisory_lock(%s) FROM runs WHERE id = %s AND ready; {_READS}"
# Before a write that must not get ahead of the appends: its query's commit waits for
# the WAL to reach the disk. The message makes the commit write a record, so it waits
# even when the write changed nothing (a transaction that wrote nothing does not).
_SYNC = (
    "SELECT set_config('synchronous_commit', 'on', true),"
    " pg_logical_emit_message(true, 'aiki', ''); "
)
_SET_READY = "UPDATE runs SET ready = %s WHERE id = %s AND ready <> %s"
_OUT_OF_QUEUE = "UPDATE runs SET ready = false WHERE id = %s AND ready"
# The same, unless requests or mail wait for the run (`leave_queue`).
_LEAVE = (
    f"{_OUT_OF_QUEUE} AND NOT EXISTS (SELECT 1 FROM requests WHERE run_id = %s)"
    " AND NOT EXISTS (SELECT 1 FROM mail WHERE run_id = %s AND NOT acked)"
)


class PostgresClaim:
    def __init__(
        self,
        session: ClaimSession,
        flushers: Flushers,
        location: str,
        key: int,
        spec: RunSpec,
        entries: list[Entry],
        first: FirstLook,
    ) -> None:
        self.spec = spec
        self.entries = entries
        self.queued = first.queued
        self.requested = first.requested
        self._first_letters = first.letters
        self.session = session
        self._flushers = flushers
        self._location = location
        self._key = key
        self._held = True
        self._unsynced = False
        self._leaving = False  # out of the queue, with the next query

    @classmethod
    def take(
        cls,
        session: ClaimSession,
        flushers: Flushers,
        target: Target,
        run_id: str,
        queued_only: bool = False,
    ) -> PostgresClaim | None:
        """The run's claim on the session, or None when a claim holds its lock (another
        session's, or one of this session's that is not released yet); with
        `queued_only`, also when the run is not queued (then its lock is not tried)."""
        key = lock_key(target.schema, "run", run_id)
        where = f"run {run_id} in {target.location}"
        with session.using() as db:
            session.unstick_locked(db)
            if session.holds(key):
                return None  # a second lock would stack, and outlive this claim's release
            read = _locked_read(session, db, key, run_id, queued_only)
            if read is None:
                return None
            row, first = read
            try:
                if row is None:
                    raise RunNotFound(run_id, target.location)
                spec, entries = spec_of(run_id, where, row[0]), entries_of(run_id, where, row[1])
            except BaseException:
                session.unlock_locked(db, key)
                raise
        return cls(session, flushers, target.location, key, spec, entries, first)

    def append(self, *entries: Entry, sync: bool = True) -> None:
        """One statement, so one transaction: the entries, and the run's status with them."""
        values, status = self._appended(entries)
        self._catch_up()
        with self.session.using() as db:
            db.prepared(appending(status is not None), *values, "", status or "")
        self.entries.extend(entries)
        self._unsynced = self._unsynced or sync

    def append_unless(
        self, kinds: Iterable[Request], *entries: Entry, sync: bool = False, flush: bool = False
    ) -> frozenset[str]:
        """One statement: the look and the append (the run's status too) see the same
        requests. With `flush` and appends waiting for one, its commit is synchronous
        when it appends, which flushes the WAL past them: a flush on the session itself,
        alive since it just answered."""
        values, status = self._appended(entries)
        flush = flush and (self._unsynced or sync)
        name = appending(status is not None, unless=True, synced=flush)
        self._catch_up()
        with self.session.using() as db:
            found = frozenset(db.prepared(name, *values, " ".join(kinds), status or ""))
        if not found:
            self.entries.extend(entries)
            self._unsynced = (self._unsynced or sync) and not flush
        return found

    def _appended(self, entries: tuple[Entry, ...]) -> tuple[tuple[str, str, str], str | None]:
        """The run, its next sequence number and the lines that append `entries`; and
        the status the last status change among them sets, if any."""
        lines = b"\n".join(dump_entry(e) for e in entries).decode()
        status = next((e.new for e in reversed(entries) if isinstance(e, StatusChanged)), None)
        values = (self.spec.id, str(len(self.entries)), lines)
        return values, None if status is None else str(status)

    @property
    def unsynced(self) -> bool:
        return self._unsynced

    def synced(self) -> None:
        """The store flushed the server's WAL past this claim's appends."""
        self._unsynced = False

    def flush(self) -> None:
        """Flush the server's WAL up to now (this claim's appends, and everyone's)."""
        if self._unsynced:
            self._flushers.flush(self.session)
            self._unsynced = False

    def _write(self, sql: str, *params: object, durable: bool = True) -> None:
        """One write: a synchronous commit, which flushes every append before it; or, not
        `durable` and with no append waiting for a flush, an asynchronous one."""
        with self.session.using() as db:
            sql, params = self._then(_SYNC + sql if durable or self._unsynced else sql, *params)
            db.query(sql, *params)
        self._unsynced = False

    def _leaves_now(self) -> bool:
        """Whether the run waits to leave the queue: the caller's query takes it out."""
        leaving, self._leaving = self._leaving, False
        return leaving

    def _then(self, sql: str, *params: object) -> tuple[str, tuple[object, ...]]:
        """`sql` and its values, after taking the run out of the queue if that waits."""
        if not self._leaves_now():
            return sql, params
        return f"{_OUT_OF_QUEUE}; {sql}", (self.spec.id, *params)

    def _catch_up(self) -> None:
        """Take the run out of the queue, if it waits to, before a statement sent alone."""
        if self._leaves_now():
            with self.session.using() as db:
                db.query(_OUT_OF_QUEUE, self.spec.id)

    def requests(self, kinds: Iterable[Request] = REQUESTS) -> frozenset[str]:
        self._catch_up()
        with self.session.using() as db:
            rows = db.execute(
                "SELECT kind FROM requests WHERE run_id = %s AND kind = ANY(%s)",
                (self.spec.id, list(kinds)),
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def clear_request(self, kind: Request) -> None:
        self._write("DELETE FROM requests WHERE run_id = %s AND kind = %s", self.spec.id, kind)

    @functools.cached_property
    def inbox(self) -> list[Mail]:
        """The letters read with the claim (a letter that is none raises here, as from
        `mail()`)."""
        return self._letters(self._first_letters)

    def mail(self) -> list[Mail]:
        self._catch_up()
        with self.session.using() as db:
            rows = db.query("EXECUTE aiki_mail(%s)", self.spec.id).fetchall()
        return self._letters(rows)

    def _letters(self, rows: list[tuple[str, str]]) -> list[Mail]:
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

    def set_ready(self, ready: bool, *, at_release: bool = False) -> None:
        """Into the queue is a synchronous commit. Out of it need not be durable by
        itself (see the module's docstring); `at_release`, with no append waiting for a
        flush, it goes with the claim's next query, its release's as a rule: a process
        that dies first leaves the run queued, as dying just before this call would."""
        self._leaving = at_release and not ready and not self._unsynced
        if not self._leaving:
            self._write(_SET_READY, ready, self.spec.id, ready, durable=ready)

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
        then queues it again, or has committed its letter, which the next statement sees.
        One query, one transaction: the second statement still starts (and takes its
        snapshot) only after the first has locked the row."""
        run = self.spec.id
        sql = f"SELECT 1 FROM runs WHERE id = %s FOR UPDATE; {_LEAVE}"
        sql = _SYNC + sql if self._unsynced else sql
        with self.session.using() as db:
            sql, params = self._then(sql, run, run, run, run)
            found = results(db.query(sql, *params))[-2]  # the row locked
        self._unsynced = False
        if not found:
            raise RunNotFound(run, self._location)

    def release(self) -> None:
        """Flush, then unlock the run on the session (even when the flush failed: what
        was appended is committed, and the next holder's durable writes flush it)."""
        PostgresClaim.release_together([self])

    @staticmethod
    def release_together(claims: Sequence[PostgresClaim]) -> None:
        """Release claims of one session: flush each, then unlock them all in one query,
        each after its run left the queue if that waits. A claim released already is
        left alone (a second release must not free a later claim of the run). The first
        flush's `StoreUnwritable` is raised once every claim is let go."""
        keys: list[int] = []
        leaving: list[str] = []
        failed: StoreUnwritable | None = None
        try:
            for claim in claims:
                if not claim._held:
                    continue
                claim._held = False
                try:
                    claim.flush()
                except StoreUnwritable as error:
                    failed = failed or error
                finally:
                    keys.append(claim._key)
                    if claim._leaves_now():
                        leaving.append(claim.spec.id)
        finally:
            if keys:
                claims[0].session.let_go_many(keys, leaving)
        if failed is not None:
            raise failed


class FirstLook(NamedTuple):
    """What a claim reads of its run besides the run itself, in the same round trip."""

    queued: bool
    letters: list[tuple[str, str]]  # key and letter of each mail not yet acknowledged
    requested: frozenset[str]


def _locked_read(
    session: ClaimSession, db: Statements, key: int, run_id: str, queued_only: bool
) -> tuple[Any, FirstLook] | None:
    """Try the run's lock and, once it is held, read the run, its mail and its requests:
    one query (each statement takes its snapshot when it starts, so the reads see every
    commit of the previous holder). The run's row and the first look; None when the lock
    was not taken. When a read failed, the lock (session locks outlive the query's
    transaction) is let go if it was taken, so that no stacked lock stays behind."""
    try:
        sql, lock = (_CLAIM_QUEUED, (key, run_id)) if queued_only else (_CLAIM, (key,))
        locked, read, mail, asked = results(db.query(sql, *lock, run_id, run_id, run_id))
    except psycopg.Error:
        session.unlock_perhaps_locked(db, [key])
        raise
    if not (locked and locked[0][0]):  # held elsewhere, or (queued only) not queued
        return None
    session.hold_locked(key)
    row = read[0] if read else None
    requested = frozenset(kind for (kind,) in asked)
    return row, FirstLook(bool(row and row[2]), mail, requested)
