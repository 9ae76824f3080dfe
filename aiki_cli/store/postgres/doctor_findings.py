"""What doctor found on the PostgreSQL store: `Findings`, to which each check reports a
finding and which applies its repair, on doctor's own session."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import psycopg

from ..report import Finding, Report
from .session import Connection


class Findings:
    """The report being made of the store, on doctor's session `conn`; with `repair`,
    each repair applied as it is found (while the run's lock is held)."""

    def __init__(self, conn: Connection, schema: str, location: str, repair: bool) -> None:
        self.conn = conn
        self.schema = schema
        self.repair = repair
        self.report = Report(location)

    def found(
        self,
        kind: str,
        problem: str,
        fix: str,
        *,
        run_id: str | None = None,
        table: str | None = None,
        repair: Callable[[], object] | None = None,
        damage: bool = True,
    ) -> None:
        """Record a finding (in `table`, named with its schema); with --repair, apply its
        repair now, in one transaction."""
        where = None if table is None else f"{self.schema}.{table}"
        finding = Finding(kind, problem, fix, run_id, where, repair is not None, damage)
        applied = partial(self._in_transaction, repair) if self.repair and repair else None
        self.report.add(finding, applied, _failed)

    def _in_transaction(self, repair: Callable[[], object]) -> None:
        with self.conn.transaction():
            repair()

    def sql(self, statement: str, *params: object) -> Callable[[], object]:
        """A repair that runs one statement."""
        return lambda: self.conn.execute(statement, params)


def _failed(error: Exception) -> str | None:
    """Why a repair failed, for the database refusing it."""
    return str(error).strip() if isinstance(error, psycopg.Error) else None
