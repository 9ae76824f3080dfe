"""How the claim session sends its statements, each in one round trip, through what it
keeps for as long as its connection lives: one statement alone through a cursor, its
values bound by the server; several as one query through a client cursor, its values
bound by psycopg (a pipeline of the protocol's statements costs the worker's psycopg
more than the round trips it saves), calling by name (`EXECUTE`) the statements every
claim makes, which the session prepared once (so they are not planned at each call);
and the appends, prepared too, through libpq itself. A cursor made for each statement,
as `Connection.execute` makes one, cost the worker's CPU as much again as psycopg's own
work for the statement; psycopg's cursor, as much again as libpq's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import psycopg

from .session import Connection

STATEMENTS = {
    "aiki_read": (
        "(text) AS SELECT spec, ARRAY(SELECT line FROM journal WHERE run_id = r.id"
        " ORDER BY seq), ready FROM runs r WHERE id = $1"
    ),
    "aiki_mail": "(text) AS SELECT key, letter FROM mail WHERE run_id = $1 AND NOT acked",
    "aiki_requested": "(text) AS SELECT kind FROM requests WHERE run_id = $1",
    # The same for several runs at once (`claims`), each row with its run's id.
    "aiki_read_many": (
        "(text[]) AS SELECT id, spec, ARRAY(SELECT line FROM journal WHERE run_id = r.id"
        " ORDER BY seq), ready FROM runs r WHERE id = ANY($1)"
    ),
    "aiki_mail_many": (
        "(text[]) AS SELECT run_id, key, letter FROM mail WHERE run_id = ANY($1) AND NOT acked"
    ),
    "aiki_requested_many": "(text[]) AS SELECT run_id, kind FROM requests WHERE run_id = ANY($1)",
}

# A claim's appends, each prepared, all with the same parameters: the run, its next
# sequence number, the lines as one text with a newline between two (a journal line has
# none of its own: a text costs psycopg much less to send than a list), the kinds of
# request looked for (space-separated), and the status set.
_APPEND = (
    "INSERT INTO journal (run_id, seq, line) SELECT $1, $2 + n - 1, line"
    " FROM unnest(string_to_array($3, E'\\n')) WITH ORDINALITY AS added(line, n)"
)
_STATUS = "UPDATE runs SET status = $5 WHERE id = $1"
_ASKED = "SELECT kind FROM requests WHERE run_id = $1 AND kind = ANY(string_to_array($4, ' '))"
_UNASKED = "NOT EXISTS (SELECT 1 FROM asked)"
_SYNCED = "set_config('synchronous_commit', 'on', true) = 'on'"


def _append(status: bool, unless: bool, synced: bool) -> str:
    """An append; with `status`, the run's status set in the same statement; `unless`,
    only when no request of the kinds looked for waits (the rows: those that do); and
    `synced`, then committed synchronously (the setting is its transaction's)."""
    if not unless:
        return f"WITH added AS ({_APPEND}) {_STATUS}" if status else _APPEND
    when = f"{_UNASKED} AND {_SYNCED}" if synced else _UNASKED
    changed = f", changed AS ({_STATUS} AND {_UNASKED})" if status else ""
    added = f"added AS ({_APPEND} WHERE {when})"
    return f"WITH asked AS ({_ASKED}), {added}{changed} SELECT * FROM asked"


def appending(status: bool, unless: bool = False, synced: bool = False) -> str:
    """The name of the prepared append (`_append`)."""
    return "aiki_append" + "_status" * status + "_unless" * unless + "_synced" * synced


STATEMENTS.update(
    (appending(*how), f"(text, integer, text, text, text) AS {_append(*how)}")
    for how in itertools.product((False, True), repeat=3)
    if how[1] or not how[2]
)


_SUCCEEDED = (psycopg.pq.ExecStatus.COMMAND_OK, psycopg.pq.ExecStatus.TUPLES_OK)


class Statements:
    """A connection's statements through its two kept cursors: one caller at a time."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._bound = conn.cursor()
        self._client = psycopg.ClientCursor(conn)

    @property
    def broken(self) -> bool:
        return self.conn.broken

    def execute(self, sql: str, params: Any = ()) -> psycopg.Cursor[Any]:
        """One statement, its values bound by the server."""
        return self._bound.execute(sql, params)

    def prepared(self, name: str, *values: str) -> list[str]:
        """Execute the prepared statement `name` with its values, all texts, through
        libpq itself (psycopg's cursor costs the worker as much CPU again); the first
        column of the rows it returns."""
        pgconn = self.conn.pgconn
        result = pgconn.exec_prepared(name.encode(), [value.encode() for value in values])
        if result.status not in _SUCCEEDED:
            if pgconn.status == psycopg.pq.ConnStatus.BAD:
                raise psycopg.OperationalError(pgconn.get_error_message())
            raise psycopg.errors.error_from_result(result, encoding=self.conn.info.encoding)
        return [(result.get_value(row, 0) or b"").decode() for row in range(result.ntuples)]

    def query(self, sql: str, *params: object) -> psycopg.ClientCursor[Any]:
        """`sql`, one or more statements, as one query with its values bound by psycopg."""
        return self._client.execute(sql, params)


def prepare(db: Statements) -> None:
    """Prepare the statements on the session's connection: one round trip."""
    db.query("; ".join(f"PREPARE {name} {sql}" for name, sql in STATEMENTS.items()))


def joined(values: Iterable[object]) -> str:
    """Values bound as one text, a comma between two, which the statement splits
    (`string_to_array(%s, ',')`): psycopg binds a text much more cheaply than a list. For
    run ids and lock keys, which hold no comma."""
    return ",".join(map(str, values))


def results(cursor: psycopg.Cursor[Any]) -> list[list[Any]]:
    """The rows of each statement of the cursor's query, in order."""
    sets = [cursor.fetchall() if cursor.description else []]
    while cursor.nextset():
        sets.append(cursor.fetchall() if cursor.description else [])
    return sets
