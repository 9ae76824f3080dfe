"""How the claim session sends its statements: each through one of two cursors it keeps
for as long as its connection lives (a cursor made for each statement, as
`Connection.execute` makes one, cost the worker's CPU as much again as psycopg's work for
the statement itself). One statement goes alone, its values bound by the server; what
takes more than one goes as one query, its values bound by psycopg (one round trip: a
pipeline of the protocol's statements costs the worker's psycopg more than the round
trips it saves), calling by name (`EXECUTE`) the statements every claim makes, which the
session prepared once (so they are not planned again at each call).
"""

from __future__ import annotations

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

    def query(self, sql: str, *params: object) -> psycopg.ClientCursor[Any]:
        """`sql`, one or more statements, as one query with its values bound by psycopg."""
        return self._client.execute(sql, params)


def prepare(conn: Connection) -> None:
    """Prepare the statements on the session's connection: one round trip."""
    query(conn, "; ".join(f"PREPARE {name} {sql}" for name, sql in STATEMENTS.items()))


def query(conn: Connection, sql: str, *params: object) -> psycopg.ClientCursor[Any]:
    """Run `sql`, one or more statements, as one query with its values bound by psycopg."""
    cursor = psycopg.ClientCursor(conn)
    return cursor.execute(sql, params)


def results(cursor: psycopg.Cursor[Any]) -> list[list[Any]]:
    """The rows of each statement of the cursor's query, in order."""
    sets = [cursor.fetchall() if cursor.description else []]
    while cursor.nextset():
        sets.append(cursor.fetchall() if cursor.description else [])
    return sets
