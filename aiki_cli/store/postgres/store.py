"""The PostgreSQL store: the file store's records as rows of one schema, for workers and
commands on many hosts sharing one database.

`runs` holds each run's start record (the text the file store writes as `run.json`), its
ready flag (the queue: a partial index lists only ready runs) and its creation order (for
`list`, newest first); `journal` holds each entry as the line the file store writes, so a
run copied between stores keeps a byte-identical journal. A claim is a session advisory
lock held by the store's claim session, the connection that does the run's writes
(`claim`, `claim_session`). Whoever queues a run
or a timer wakes idle workers through a trigger's NOTIFY (`notify`).

Queueing and leaving the queue lock the run's row first, so mail or a request posted
while a worker takes its run out of the queue is always seen by one of the two.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ...errors import BadInput, RunNotFound, StoreUnreachable, StoreUnwritable
from ...model.entry import Entry
from ...model.export import RunExport
from ...model.journal import summarize
from ...model.runinfo import RunInfo, RunSpec
from ...model.schedule import Schedule
from ...values.ids import check_run_id
from ..base import Claim, Mail, Request, RunRef, Taken, Timer, release_each
from ..report import Report
from . import transfer
from .claim import PostgresClaim
from .claim_session import ClaimSession, SessionSlot
from .claims import take_many
from .connect import Target
from .flushes import Flushers
from .keys import lock_key
from .notify import Listener
from .records import entries_of, letter_of, spec_of
from .rows import queue_locked, read_locked, run_row_locked, set_timer
from .schema import channel, check, migrate
from .session import Connection, Connections
from .workers import Roster

_PAGE = 500  # runs `list_runs` fetches at a time
_C = 'COLLATE "C"'  # text sorted as Python sorts it
_T = TypeVar("_T")


class PostgresStore:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.location = target.location
        self.schema = target.schema
        self.connections = Connections(target, lambda conn: check(conn, target))
        self.sessions = SessionSlot(self.connections)
        self.flushers = Flushers(self.connections)
        self.roster = Roster(self.connections)

    def close(self) -> None:
        self.sessions.close()
        self.flushers.close()
        self.connections.close()

    def migrate(self) -> tuple[int, int]:
        return migrate(self.target)

    def _where(self, run_id: str) -> str:
        return f"run {run_id} in {self.location}"

    def create_run(self, spec: RunSpec) -> RunSpec:
        text = spec.model_dump_json(indent=2) + "\n"
        with self.connections.shared() as conn, conn.transaction():
            made = conn.execute(
                "INSERT INTO runs (id, workflow, version, created_at, idempotency_key,"
                " parent_id, spec) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (workflow, idempotency_key) DO NOTHING RETURNING id",
                (
                    spec.id,
                    spec.workflow,
                    spec.version,
                    spec.created_at,
                    spec.idempotency_key,
                    spec.parent_id,
                    text,
                ),
            ).fetchone()
            if made is not None:
                return spec
            row = conn.execute(
                "SELECT id, spec FROM runs WHERE workflow = %s AND idempotency_key = %s",
                (spec.workflow, spec.idempotency_key),
            ).fetchone()
        assert row is not None  # the insert found it
        return spec_of(row[0], self._where(row[0]), row[1])

    def create_runs(self, specs: Sequence[RunSpec]) -> None:
        """All in one transaction: every run stored, or none."""
        rows = [
            (
                spec.id,
                spec.workflow,
                spec.version,
                spec.created_at,
                spec.parent_id,
                spec.model_dump_json(indent=2) + "\n",
            )
            for spec in specs
        ]
        with self.connections.shared() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO runs (id, workflow, version, created_at, parent_id, spec)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            spec_text, lines = read_locked(conn, run_id, self.location)
        where = self._where(run_id)
        return spec_of(run_id, where, spec_text), entries_of(run_id, where, lines)

    def read_since(self, run_id: str, cursor: int = 0) -> tuple[RunSpec, list[Entry], int]:
        """The cursor is the number of entries read: the next one's `seq`."""
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            row = conn.execute("SELECT spec FROM runs WHERE id = %s", (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(run_id, self.location)
            lines = conn.execute(
                "SELECT line FROM journal WHERE run_id = %s AND seq >= %s ORDER BY seq",
                (run_id, cursor),
            ).fetchall()
        where = self._where(run_id)
        entries = entries_of(run_id, where, [line for (line,) in lines])
        return spec_of(run_id, where, row[0]), entries, cursor + len(entries)

    def read_summary(self, run_id: str, *, tasks: bool = True) -> RunInfo:
        info = summarize(*self.read_run(run_id))
        if not tasks:
            info.tasks = []
        return info

    def list_runs(self) -> Iterator[RunRef]:
        after: int | None = None
        while True:
            with self.connections.shared() as conn:
                rows = conn.execute(
                    "SELECT seq, id, workflow, version FROM runs"
                    " WHERE %s::bigint IS NULL OR seq < %s ORDER BY seq DESC LIMIT %s",
                    (after, after, _PAGE),
                ).fetchall()
            for _, run_id, workflow, version in rows:
                yield RunRef(run_id, workflow, version)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def ready_runs(self) -> list[str]:
        with self.connections.shared() as conn:
            rows = conn.execute(f"SELECT id FROM runs WHERE ready ORDER BY id {_C}").fetchall()
        return [row[0] for row in rows]

    def is_ready(self, run_id: str) -> bool:
        with self.connections.shared() as conn:
            row = conn.execute("SELECT ready FROM runs WHERE id = %s", (run_id,)).fetchone()
        return bool(row and row[0])

    def claim(self, run_id: str, *, queued_only: bool = False) -> PostgresClaim | None:
        run_id = check_run_id(run_id)
        take = PostgresClaim.take
        return self._on_session(lambda s: take(s, self.flushers, self.target, run_id, queued_only))

    def claim_many(self, run_ids: Sequence[str], *, queued_only: bool = False) -> list[Taken]:
        """One query (`claims`) for the valid ids; an invalid one is its own error."""
        checked: list[str | BadInput] = []
        for run_id in run_ids:
            try:
                checked.append(check_run_id(run_id))
            except BadInput as error:
                checked.append(error)
        valid = [run_id for run_id in checked if isinstance(run_id, str)]
        taken = self._on_session(
            lambda s: take_many(s, self.flushers, self.target, valid, queued_only)
        )
        claims = iter(taken)
        return [next(claims) if isinstance(run_id, str) else run_id for run_id in checked]

    def _on_session(self, take: Callable[[ClaimSession], _T]) -> _T:
        """`take` on the claim session; once more on a new one when the server had dropped
        it unnoticed (no claim is on the new one yet)."""
        session = self.sessions.current()
        try:
            return take(session)
        except StoreUnreachable:
            if not session.broken:
                raise
        return take(self.sessions.current())

    def release_many(self, claims: Sequence[Claim]) -> None:
        """The claims of each session in one query (`PostgresClaim.release_together`)."""
        sessions: dict[object, list[PostgresClaim]] = {}
        releases = []
        for claim in claims:
            if isinstance(claim, PostgresClaim):
                sessions.setdefault(claim.session, []).append(claim)
            else:
                releases.append(claim.release)
        together = PostgresClaim.release_together
        release_each(
            [*releases, *(functools.partial(together, held) for held in sessions.values())]
        )

    def flush_together(self, claims: list[Claim]) -> bool:
        """One synchronous commit flushes the server's WAL up to it: every append the
        claims committed before it is durable with it. Made on a flush connection, while
        the event loop goes on using the claim session (`flushes`); claims of more than
        one session (one of them broke) are flushed each alone."""
        held = [claim for claim in claims if isinstance(claim, PostgresClaim)]
        sessions = {claim.session for claim in held}
        if len(held) != len(claims) or len(sessions) > 1:
            return False
        try:
            for session in sessions:
                self.flushers.flush(session)
        except StoreUnwritable:  # each flushes alone, and learns
            return False
        for claim in held:
            claim.synced()
        return True

    def request(self, run_id: str, kind: Request) -> None:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            ready = run_row_locked(conn, run_id, self.location)
            conn.execute(
                "INSERT INTO requests (run_id, kind) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (run_id, kind),
            )
            queue_locked(conn, run_id, ready)

    def requests(self, run_id: str) -> frozenset[str]:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            self._exists(conn, run_id)
            rows = conn.execute("SELECT kind FROM requests WHERE run_id = %s", (run_id,))
            return frozenset(row[0] for row in rows.fetchall())

    def post(self, run_id: str, mail: Mail) -> bool:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            ready = run_row_locked(conn, run_id, self.location)
            found = conn.execute(
                "SELECT acked FROM mail WHERE run_id = %s AND key = %s", (run_id, mail.key)
            ).fetchone()
            if found is not None and found[0]:
                return False  # acknowledged with a reference id: a repeated send
            if found is None:
                conn.execute(
                    "INSERT INTO mail (run_id, key, letter) VALUES (%s, %s, %s)",
                    (run_id, mail.key, mail.model_dump_json()),
                )
            queue_locked(conn, run_id, ready)  # again when unread: its poster may have died
            return found is None

    def unread_mail(self, run_id: str) -> list[Mail]:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            self._exists(conn, run_id)
            rows = conn.execute(
                "SELECT key, letter FROM mail WHERE run_id = %s AND NOT acked", (run_id,)
            ).fetchall()
        where = f"letter {{}} of run {run_id} in {self.location}"
        letters = [letter_of(run_id, where.format(key), text) for key, text in rows]
        return sorted(letters, key=lambda mail: (mail.sent_at, mail.order, mail.key))

    def posted(self, run_id: str, key: str) -> bool:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            self._exists(conn, run_id)
            row = conn.execute(
                "SELECT 1 FROM mail WHERE run_id = %s AND key = %s", (run_id, key)
            ).fetchone()
        return row is not None

    def mark_ready(self, run_id: str) -> None:
        run_id = check_run_id(run_id)
        with self.connections.shared() as conn, conn.transaction():
            queue_locked(conn, run_id, run_row_locked(conn, run_id, self.location))

    def _exists(self, conn: Connection, run_id: str) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = %s", (run_id,)).fetchone() is None:
            raise RunNotFound(run_id, self.location)

    def due_timers(self, now: datetime) -> list[Timer]:
        with self.connections.shared() as conn:
            rows = conn.execute(
                "SELECT due, kind, target FROM timers WHERE due <= %s"
                f" ORDER BY due, kind {_C}, target {_C}",
                (now,),
            ).fetchall()
        return [Timer(*row) for row in rows]

    def clear_timer(self, timer: Timer) -> None:
        with self.connections.shared() as conn:
            conn.execute(
                "DELETE FROM timers WHERE kind = %s AND target = %s AND due = %s",
                (timer.kind, timer.target, timer.due),
            )

    def next_due(self) -> datetime | None:
        with self.connections.shared() as conn:
            row = conn.execute("SELECT min(due) FROM timers").fetchone()
        return row[0] if row else None

    def save_schedule(self, schedule: Schedule) -> None:
        with self.connections.shared() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO schedules (id, body) VALUES (%s, %s)"
                " ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                (schedule.id, schedule.model_dump_json(indent=2)),
            )
            set_timer(conn, "schedule", schedule.id, None if schedule.paused else schedule.next_due)

    def schedule(self, schedule_id: str) -> Schedule | None:
        with self.connections.shared() as conn:
            row = conn.execute("SELECT body FROM schedules WHERE id = %s", (schedule_id,))
            found = row.fetchone()
        return None if found is None else Schedule.model_validate_json(found[0])

    def schedules(self) -> list[Schedule]:
        with self.connections.shared() as conn:
            rows = conn.execute(f"SELECT body FROM schedules ORDER BY id {_C}").fetchall()
        return [Schedule.model_validate_json(row[0]) for row in rows]

    def remove_schedule(self, schedule_id: str) -> None:
        with self.connections.shared() as conn, conn.transaction():
            conn.execute("DELETE FROM schedules WHERE id = %s", (schedule_id,))
            set_timer(conn, "schedule", schedule_id, None)

    def rearm_schedules(self) -> list[str]:
        with self.connections.shared() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT body FROM schedules s WHERE NOT EXISTS (SELECT 1 FROM timers t"
                f" WHERE t.kind = 'schedule' AND t.target = s.id) ORDER BY id {_C}"
            ).fetchall()
            unarmed = [Schedule.model_validate_json(row[0]) for row in rows]
            active = [schedule for schedule in unarmed if not schedule.paused]
            for schedule in active:
                set_timer(conn, "schedule", schedule.id, schedule.next_due)
        return [schedule.id for schedule in active]

    def register_worker(
        self, worker_id: str, info: dict[str, Any]
    ) -> contextlib.AbstractContextManager[None]:
        return self.roster.register(lock_key(self.schema, "worker", worker_id), worker_id, info)

    def live_workers(self) -> list[dict[str, Any]]:
        return self.roster.live()

    def examine(self, *, repair: bool = False) -> Report:
        from .doctor import examine  # the checks, which only doctor pays for

        return examine(self.connections, repair=repair)

    def export_run(self, run_id: str) -> RunExport:
        return transfer.export_run(self.connections, check_run_id(run_id))

    def import_run(self, run: RunExport) -> None:
        check_run_id(run.spec.id)
        transfer.import_run(self.connections, run)

    def remove_run(self, run_id: str) -> None:
        transfer.remove_run(self.sessions.current(), self.target, check_run_id(run_id))

    def watch(self, wake: Callable[[], None]) -> contextlib.AbstractContextManager[None]:
        """While open, call `wake` (from another thread) whenever any process queues a run
        or sets a timer in this schema."""
        return Listener(self.target, channel(self.schema), wake)
