"""Whole runs in and out of the PostgreSQL store: `export_run`, `import_run` and
`remove_run` (for `aiki copy`, `aiki export`/`import` and `aiki gc`).

An import is one transaction, so a refused or failed one writes nothing; its journal lines
are the export's lines, byte for byte. A removal takes the run's advisory lock as a worker
would, so it never removes a run a worker is executing.
"""

from __future__ import annotations

from ...errors import IllegalTransition, RunClaimed, RunExists
from ...model.export import RunExport
from ...model.journal import summarize
from .claim_session import ClaimSession
from .connect import Target
from .keys import lock_key
from .records import entries_of, letter_of, spec_of
from .rows import read_locked, set_timer
from .session import Connection, Connections, speaking

_ONLY_ENDED = "only runs that have ended can be removed"


def export_run(connections: Connections, run_id: str) -> RunExport:
    location = connections.target.location
    where = f"run {run_id} in {location}"
    with connections.shared() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one moment's run
        spec_text, lines = read_locked(conn, run_id, location)
        letters = conn.execute(
            "SELECT key, letter FROM mail WHERE run_id = %s AND NOT acked", (run_id,)
        ).fetchall()
        kinds = conn.execute("SELECT kind FROM requests WHERE run_id = %s", (run_id,)).fetchall()
    mail = [letter_of(run_id, f"letter {key} of {where}", text) for key, text in letters]
    return RunExport(
        spec=spec_of(run_id, where, spec_text),
        journal=entries_of(run_id, where, lines),
        mail=sorted(mail, key=lambda m: (m.sent_at, m.order, m.key)),
        requests=sorted(kind for (kind,) in kinds),
    )


def import_run(connections: Connections, run: RunExport) -> None:
    spec = run.spec
    queued, due = run.placement()
    status = summarize(spec, run.journal).status
    with connections.shared() as conn, conn.transaction():
        made = conn.execute(
            "INSERT INTO runs (id, workflow, version, created_at, idempotency_key, parent_id,"
            " status, ready, spec) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (
                spec.id,
                spec.workflow,
                spec.version,
                spec.created_at,
                spec.idempotency_key,
                spec.parent_id,
                str(status),
                queued,
                spec.model_dump_json(indent=2) + "\n",
            ),
        ).fetchone()
        if made is None:
            raise _taken(conn, run, connections.target.location)
        _fill(conn, run)
        set_timer(conn, "run", spec.id, due)


def _fill(conn: Connection, run: RunExport) -> None:
    """The imported run's journal, mail, requests and received reference ids."""
    run_id = run.spec.id
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO journal (run_id, seq, line) VALUES (%s, %s, %s)",
            [(run_id, n, line.decode()) for n, line in enumerate(run.journal_lines())],
        )
        cursor.executemany(
            "INSERT INTO mail (run_id, key, letter) VALUES (%s, %s, %s)",
            [(run_id, mail.key, mail.model_dump_json()) for mail in run.mail],
        )
        cursor.executemany(
            "INSERT INTO mail (run_id, key, letter, acked) VALUES (%s, %s, '', true)"
            " ON CONFLICT DO NOTHING",
            [(run_id, key) for key in run.received_keys()],
        )
        cursor.executemany(
            "INSERT INTO requests (run_id, kind) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            [(run_id, kind) for kind in run.requests],
        )


def _taken(conn: Connection, run: RunExport, location: str) -> RunExists:
    """Why the run could not be inserted: its id is taken, or its key names another run."""
    spec = run.spec
    if conn.execute("SELECT 1 FROM runs WHERE id = %s", (spec.id,)).fetchone() is not None:
        return RunExists(spec.id, location)
    holder = conn.execute(
        "SELECT id FROM runs WHERE workflow = %s AND idempotency_key = %s",
        (spec.workflow, spec.idempotency_key),
    ).fetchone()
    hint = f"its idempotency key already started run {holder[0] if holder else '?'}, which keeps it"
    return RunExists(spec.id, location, hint)


def remove_run(session: ClaimSession, target: Target, run_id: str) -> None:
    """Remove the ended run, holding its lock on the claim session meanwhile: refused
    while any claim holds it, this process's included."""
    key = lock_key(target.schema, "run", run_id)
    with session.using() as db:
        if session.holds(key):
            raise RunClaimed(run_id, target.location)
        got = db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not (got and got[0]):
            raise RunClaimed(run_id, target.location)
        session.hold_locked(key)
        try:
            _remove_held(db.conn, run_id, target)
        finally:
            session.unlock_locked(db, key)


def _remove_held(conn: Connection, run_id: str, target: Target) -> None:
    """Remove the run whose lock `conn` holds, if it has ended."""
    where = f"run {run_id} in {target.location}"
    with speaking(target), conn.transaction():
        spec_text, lines = read_locked(conn, run_id, target.location)
        spec = spec_of(run_id, where, spec_text)
        status = summarize(spec, entries_of(run_id, where, lines)).status
        if not status.terminal:
            raise IllegalTransition(run_id, status, "be removed", _ONLY_ENDED)
        conn.execute("DELETE FROM timers WHERE kind = 'run' AND target = %s", (run_id,))
        conn.execute("DELETE FROM journal WHERE run_id = %s", (run_id,))
        conn.execute("DELETE FROM runs WHERE id = %s", (run_id,))
