"""The SQL that store and claim share: reading a run, locking its row to queue it, arming
a timer."""

from __future__ import annotations

from datetime import datetime

from ...errors import RunNotFound
from .session import Connection


def read_locked(conn: Connection, run_id: str, location: str) -> tuple[str, list[str]]:
    """The run's spec text and journal lines, read in the caller's transaction."""
    row = conn.execute("SELECT spec FROM runs WHERE id = %s", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id, location)
    lines = conn.execute(
        "SELECT line FROM journal WHERE run_id = %s ORDER BY seq", (run_id,)
    ).fetchall()
    return row[0], [line[0] for line in lines]


def set_timer(conn: Connection, kind: str, target: str, due: datetime | None) -> None:
    """Arm the timer of `kind` for `target` at `due` (replacing its due time), or remove it."""
    if due is None:
        conn.execute("DELETE FROM timers WHERE kind = %s AND target = %s", (kind, target))
        return
    conn.execute(
        "INSERT INTO timers (kind, target, due) VALUES (%s, %s, %s)"
        " ON CONFLICT (kind, target) DO UPDATE SET due = excluded.due",
        (kind, target, due),
    )


def run_row_locked(conn: Connection, run_id: str, location: str) -> bool:
    """Lock the run's row for the caller's transaction; whether it is queued.
    `RunNotFound`."""
    row = conn.execute("SELECT ready FROM runs WHERE id = %s FOR UPDATE", (run_id,)).fetchone()
    if row is None:
        raise RunNotFound(run_id, location)
    return bool(row[0])


def queue_locked(conn: Connection, run_id: str, ready: bool) -> None:
    """Queue the run whose row the caller's transaction locked (and found `ready` or not)."""
    if not ready:
        conn.execute("UPDATE runs SET ready = true WHERE id = %s", (run_id,))
