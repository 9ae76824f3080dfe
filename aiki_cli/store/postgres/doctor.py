"""`aiki doctor` for the PostgreSQL store: check every run's rows against what is derived
from them, and the rows no run owns; `--repair` rebuilds what is derived.

A run's start record (`runs.spec`) and its journal are its truth: doctor never changes
them, and when they are damaged it names the row and the SQL a person may run. Derived,
and rebuilt by `--repair`:

    runs.ready      a pending or running run is queued, and a parked one with news for it
    runs.status     the status the journal ends on (what `list` filters on)
    timers          a parked run due at a time has its timer, an ended one has none;
                    every active schedule has one, and no timer outlives its run
    workers         a dead worker's registration (its session, and lock, are gone)
    mail, requests  rows of a run that no longer exists

Each run is checked holding its advisory lock (taken on doctor's own session, as a
worker's claim is), so no worker changes it meanwhile; a run a worker holds is left
alone and listed as busy. The checks of one run are in `doctor_runs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import psycopg
from pydantic import ValidationError

from ...model.schedule import Schedule
from ..report import Report
from .doctor_findings import Findings
from .doctor_runs import RunChecks
from .rows import set_timer
from .session import Connection, Connections, translated

_PAGE = 500  # runs read at a time

# A registration whose advisory lock no session holds: its worker is gone.
_GONE = """NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid = w.lock_hi::oid AND l.objid = w.lock_lo::oid)"""


def examine(connections: Connections, *, repair: bool = False) -> Report:
    """Check every run and the store-wide rows; with `repair`, fix what is derived."""
    target = connections.target
    conn = connections.own()  # doctor's own session, for its run locks
    try:
        findings = Findings(conn, target.schema, target.location, repair)
        runs = RunChecks(findings)
        for run_id, spec_text, ready, status in _runs(conn):
            runs.check(run_id, spec_text, ready, status)
        StoreChecks(findings).check()
        return findings.report
    except psycopg.Error as error:
        raise translated(target, error) from error
    finally:
        conn.close()


def _runs(conn: Connection) -> Iterator[tuple[str, str, bool, str]]:
    """Every run's id, start record, ready flag and status column, in creation order, a
    page at a time."""
    after = 0
    while True:
        rows = conn.execute(
            "SELECT seq, id, spec, ready, status FROM runs WHERE seq > %s ORDER BY seq LIMIT %s",
            (after, _PAGE),
        ).fetchall()
        for _, run_id, spec, ready, status in rows:
            yield run_id, spec, ready, status
        if len(rows) < _PAGE:
            return
        after = rows[-1][0]


class StoreChecks:
    """The rows that belong to no run, the schedules' timers, and the workers."""

    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.conn = findings.conn
        self.schema = findings.schema

    def check(self) -> None:
        self._journals_without_run()
        self._leftovers("mail")
        self._leftovers("requests")
        self._timers_without_target()
        self._schedules()
        self._workers()

    def _journals_without_run(self) -> None:
        rows = self.conn.execute(
            "SELECT DISTINCT run_id FROM journal j"
            " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = j.run_id) ORDER BY run_id"
        ).fetchall()
        for (run_id,) in rows:
            self.findings.found(
                "run-unreadable",
                f"run {run_id} has a journal but no row in {self.schema}.runs",
                f"restore its row of {self.schema}.runs from a backup, or delete its journal "
                f"with `DELETE FROM {self.schema}.journal WHERE run_id = '{run_id}'`",
                run_id=run_id,
                table="journal",
            )

    def _leftovers(self, table: str) -> None:
        rows = self.conn.execute(
            f"SELECT DISTINCT run_id FROM {table} t"
            " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t.run_id) ORDER BY run_id"
        ).fetchall()
        for (run_id,) in rows:
            self.findings.found(
                "orphan-rows",
                f"{self.schema}.{table} holds rows of run {run_id}, which does not exist",
                "--repair removes them",
                run_id=run_id,
                table=table,
                repair=self.findings.sql(f"DELETE FROM {table} WHERE run_id = %s", run_id),
                damage=False,
            )

    def _timers_without_target(self) -> None:
        rows = self.conn.execute(
            "SELECT kind, target FROM timers t WHERE"
            " (kind = 'run' AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t.target))"
            " OR (kind = 'schedule' AND NOT EXISTS"
            " (SELECT 1 FROM schedules s WHERE s.id = t.target))"
            " OR kind NOT IN ('run', 'schedule') ORDER BY kind, target"
        ).fetchall()
        for kind, name in rows:
            self.findings.found(
                "orphan-timer",
                f"a timer of {kind} {name}, which does not exist, is left in {self.schema}.timers",
                "--repair removes it",
                table="timers",
                repair=self.findings.sql(
                    "DELETE FROM timers WHERE kind = %s AND target = %s", kind, name
                ),
            )

    def _schedules(self) -> None:
        rows = self.conn.execute(
            "SELECT s.id, s.body, t.due FROM schedules s LEFT JOIN timers t"
            " ON t.kind = 'schedule' AND t.target = s.id ORDER BY s.id"
        ).fetchall()
        for schedule_id, body, due in rows:
            try:
                schedule = Schedule.model_validate_json(body)
            except ValidationError:
                self.findings.found(
                    "schedule-unreadable",
                    f"schedule {schedule_id} in {self.schema}.schedules cannot be read",
                    f"correct its body by hand, or remove it with `aiki schedule remove "
                    f"{schedule_id}`",
                    table="schedules",
                )
                continue
            if due is None and not schedule.paused:
                self.findings.found(
                    "timer-missing",
                    f"schedule {schedule_id} is active but has no timer: it would not fire",
                    "--repair sets it (so does the next worker to start)",
                    table="timers",
                    repair=partial(
                        set_timer, self.conn, "schedule", schedule_id, schedule.next_due
                    ),
                )

    def _workers(self) -> None:
        gone = f"SELECT id FROM workers w WHERE {_GONE} ORDER BY id"
        for (worker_id,) in self.conn.execute(gone).fetchall():
            self.findings.found(
                "worker-gone",
                f"worker {worker_id} is gone (its session ended) but is still registered",
                "--repair removes its registration (no command counts it as live)",
                table="workers",
                repair=self.findings.sql(  # unless a new worker took the id meanwhile
                    f"DELETE FROM workers w WHERE id = %s AND {_GONE}", worker_id
                ),
                damage=False,
            )
