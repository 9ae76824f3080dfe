"""`aiki doctor` on one run of the PostgreSQL store: its start record and journal read
back, its status changes follow one another, and its ready flag, status column and timer
agree with its journal; a parent agrees with its children. `doctor` holds the findings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ...errors import AikiError, NewerFormat, RunDamaged
from ...model.entry import ChildStarted, Entry, StatusChanged
from ...model.journal import last_status, summarize
from ...model.runinfo import RunSpec
from ...model.status import RunStatus, can_transition
from .doctor_findings import Findings
from .keys import lock_key
from .records import entries_of, letter_of, spec_of
from .rows import set_timer


class RunChecks:
    def __init__(self, findings: Findings) -> None:
        self.findings = findings
        self.conn = findings.conn
        self.schema = findings.schema

    def check(self, run_id: str, spec_text: str, ready: bool, status: str) -> None:
        """Check the run while holding its lock; a run a worker holds is busy."""
        key = lock_key(self.schema, "run", run_id)
        got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        self.findings.report.runs += 1
        if not (got and got[0]):
            self.findings.report.busy.append(run_id)
            return
        try:
            read = self._read(run_id, spec_text)
            if read is not None:
                self._check_rows(*read, ready, status)
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # -- what is the run's truth: read, never changed ---------------------------------

    def _read(self, run_id: str, spec_text: str) -> tuple[RunSpec, list[Entry]] | None:
        where = f"run {run_id} in {self.findings.report.store}"
        rows = self.conn.execute(
            "SELECT seq, line FROM journal WHERE run_id = %s ORDER BY seq", (run_id,)
        ).fetchall()
        try:
            spec = spec_of(run_id, where, spec_text)
            entries = entries_of(run_id, where, [line for _, line in rows])
        except NewerFormat as error:
            self.findings.found(
                "newer-format",
                error.detail,
                f"upgrade to {error.needed}; nothing is wrong with the run (workers of "
                "this aiki leave it alone)",
                run_id=run_id,
                table="journal" if error.line else "runs",
            )
            return None
        except RunDamaged as error:
            self._damaged(run_id, error.detail, error.line, rows)
            return None
        seqs = [seq for seq, _ in rows]
        if seqs != list(range(len(seqs))):
            at = next(n for n, seq in enumerate(seqs) if seq != n)
            self._damaged(run_id, f"the journal of {where} skips seq {at}", at + 1, rows)
            return None
        broken = _broken_story(entries)
        if broken is not None:
            self._damaged(run_id, f"{where}: {broken[1]}", broken[0], rows)
            return None
        return spec, entries

    def _damaged(
        self, run_id: str, detail: str, line: int | None, rows: list[tuple[int, str]]
    ) -> None:
        if line is None:
            fix = (
                f"the start record is written once: restore the run's row of "
                f"{self.schema}.runs from a backup, or delete the run (it is lost)"
            )
            self.findings.found("run-unreadable", detail, fix, run_id=run_id, table="runs")
            return
        seq = rows[line - 1][0] if line <= len(rows) else line - 1
        fix = (
            f"cut the journal before line {line} with `DELETE FROM {self.schema}.journal "
            f"WHERE run_id = '{run_id}' AND seq >= {seq}` (the run resumes from the lines "
            f"before it, and tasks whose results are cut off run again), or correct it by hand"
        )
        self.findings.found("journal-damaged", detail, fix, run_id=run_id, table="journal")

    # -- what is derived from it: rebuilt by --repair --------------------------------

    def _check_rows(self, spec: RunSpec, entries: list[Entry], ready: bool, column: str) -> None:
        info = summarize(spec, entries)
        run_id = spec.id
        if column != info.status:
            self.findings.found(
                "status-stale",
                f"run {run_id} is {info.status} by its journal, but its status column "
                f"says {column}",
                "--repair sets the column",
                run_id=run_id,
                table="runs",
                repair=self.findings.sql(
                    "UPDATE runs SET status = %s WHERE id = %s", str(info.status), run_id
                ),
            )
        news = self._news(run_id)
        due = self._timer(run_id)
        self._check_ready(run_id, info.status, ready, news, due is not None)
        self._check_timer(run_id, info.status, info.due_at, due, ready)
        if not ready and not news:
            self._check_family(run_id, info.status, entries)

    def _news(self, run_id: str) -> bool:
        """Whether requests or unread mail wait for the run; unreadable mail is damage."""
        requests = self.conn.execute(
            "SELECT 1 FROM requests WHERE run_id = %s LIMIT 1", (run_id,)
        ).fetchone()
        letters = self.conn.execute(
            "SELECT key, letter FROM mail WHERE run_id = %s AND NOT acked ORDER BY key",
            (run_id,),
        ).fetchall()
        for key, text in letters:
            try:
                letter_of(run_id, key, text)
            except RunDamaged:
                self.findings.found(
                    "mail-unreadable",
                    f"letter {key!r} of run {run_id} is not a letter; the run's worker stops on it",
                    f"correct it by hand, or delete it with `DELETE FROM {self.schema}.mail "
                    f"WHERE run_id = '{run_id}' AND key = '{key}'`",
                    run_id=run_id,
                    table="mail",
                )
        return requests is not None or bool(letters)

    def _timer(self, run_id: str) -> datetime | None:
        row = self.conn.execute(
            "SELECT due FROM timers WHERE kind = 'run' AND target = %s", (run_id,)
        ).fetchone()
        return None if row is None else row[0]

    def _check_ready(
        self, run_id: str, status: RunStatus, ready: bool, news: bool, timed: bool
    ) -> None:
        if not ready and status.wants_worker(timed=timed, news=news):
            why = "with requests or mail waiting " if status.parked else ""
            self.findings.found(
                "not-queued",
                f"run {run_id} is {status} {why}but not ready: no worker would take it",
                "--repair queues it",
                run_id=run_id,
                table="runs",
                repair=self._queue(run_id),
            )
        if ready and status.idle:
            self.findings.found(  # harmless: the next worker to look finishes and settles it
                "stale-ready",
                f"run {run_id} is {status} but still ready",
                "a worker finishes what followed and takes it out, the next time it looks",
                run_id=run_id,
                table="runs",
                repair=None
                if status.terminal
                else self.findings.sql("UPDATE runs SET ready = false WHERE id = %s", run_id),
                damage=False,
            )

    def _check_timer(
        self,
        run_id: str,
        status: RunStatus,
        due_at: datetime | None,
        due: datetime | None,
        ready: bool,
    ) -> None:
        if status.idle and due is not None:
            self.findings.found(
                "stale-timer",
                f"run {run_id} is {status} but still has a timer (due {due:%Y-%m-%d %H:%M:%S})",
                "--repair removes it",
                run_id=run_id,
                table="timers",
                repair=lambda: set_timer(self.conn, "run", run_id, None),
                damage=not ready,  # when it fires, it only queues the run again
            )
        if due_at is None or not status.parked or status == RunStatus.PAUSED:
            return
        if due is None or due > due_at:
            self.findings.found(
                "timer-missing",
                f"run {run_id} is {status} until {due_at:%Y-%m-%d %H:%M:%S} UTC but has no "
                "timer then: it would not wake",
                "--repair sets it",
                run_id=run_id,
                table="timers",
                repair=lambda: set_timer(self.conn, "run", run_id, due_at),
            )

    def _check_family(self, run_id: str, status: RunStatus, entries: list[Entry]) -> None:
        """A cancelled parent's children are cancelled too (or asked to be); an awaiting
        parent hears of each child that ended (or a worker is about to tell it)."""
        children = [entry.child for entry in entries if isinstance(entry, ChildStarted)]
        parked = last_status(entries)
        if status == RunStatus.CANCELLED:
            left = [c for c in children if self._ended(c) is None and not self._cancelling(c)]
            problem = f"run {run_id} is cancelled, but its children {', '.join(left)} are not"
        elif status == RunStatus.AWAITING_CHILD and parked is not None:
            left = [
                child
                for child in children
                if (ended := self._ended(child)) is not None
                and ended > parked.at
                and not self._is_ready(child)
            ]
            problem = f"run {run_id} awaits its children, and {', '.join(left)} ended unheard"
        else:
            return
        if left:
            self.findings.found(
                "children-alive" if status == RunStatus.CANCELLED else "parent-stranded",
                f"{problem}: no worker would act on it",
                "--repair queues it, and the next worker finishes what was left undone",
                run_id=run_id,
                table="runs",
                repair=self._queue(run_id),
            )

    def _ended(self, run_id: str) -> datetime | None:
        """When the run ended; None if it has not, or cannot be read."""
        row = self.conn.execute("SELECT spec FROM runs WHERE id = %s", (run_id,)).fetchone()
        if row is None:
            return None
        lines = self.conn.execute(
            "SELECT line FROM journal WHERE run_id = %s ORDER BY seq", (run_id,)
        ).fetchall()
        try:
            spec = spec_of(run_id, run_id, row[0])
            entries = entries_of(run_id, run_id, [line for (line,) in lines])
        except AikiError:
            return None
        last = last_status(entries)
        return last.at if last is not None and summarize(spec, entries).status.terminal else None

    def _cancelling(self, run_id: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM requests WHERE run_id = %s AND kind = 'cancel'", (run_id,)
        ).fetchone()
        return row is not None

    def _is_ready(self, run_id: str) -> bool:
        row = self.conn.execute("SELECT ready FROM runs WHERE id = %s", (run_id,)).fetchone()
        return bool(row and row[0])

    def _queue(self, run_id: str) -> Callable[[], object]:
        return self.findings.sql("UPDATE runs SET ready = true WHERE id = %s", run_id)


def _broken_story(entries: list[Entry]) -> tuple[int, str] | None:
    """The first journal line (1-based) whose status change the table does not allow."""
    status = RunStatus.PENDING
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, StatusChanged):
            continue
        if entry.old != status or not can_transition(status, entry.new):
            return number, (
                f"line {number} changes the status from {entry.old} to {entry.new}, "
                f"but the run was {status}"
            )
        status = entry.new
    return None
