"""`aiki replay --check`: will the code in the workflows directory replay the runs in
flight (or exported ones)? Each run is replayed here, in this process, executing no task
body, sending nothing and writing nothing; exit 0 when every one replays, 1 otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from ..engine.replay_check import ReplayReport
from ..errors import BadInput, ReplayWouldBreak
from ..model.status import RunStatus
from . import views
from .options import Options
from .params import JsonFlag, one_of

if TYPE_CHECKING:
    from rich.table import Table

VERDICT_STYLES = {"replays": "green", "diverges": "red", "fails": "red", "missing": "yellow"}


def replay(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="RUN_ID", help="Runs to check (default: every unfinished run)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Replay without executing or writing anything.")
    ] = False,
    workflow: Annotated[
        str | None, typer.Option(metavar="NAME[@VERSION]", help="Only runs of this workflow.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS,…", help="Only runs in these statuses: running,sleeping,…"),
    ] = None,
    journal: Annotated[
        list[str] | None,
        typer.Option(metavar="FILE", help="A run written by `aiki export` (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Replay stored or exported runs against the workflows' code, executing nothing: each
    replays, would diverge (where, and why) or has its version missing from the code."""
    if not check:
        raise BadInput("aiki replay only checks: add --check (it executes and writes nothing)")
    statuses = _statuses(status)
    name, version = (workflow or "").partition("@")[::2]
    options: Options = ctx.obj
    versions = options.workflows()
    reports = asyncio.run(
        options.client().replay_check(
            versions,
            run_ids or (),
            workflow=name or None,
            version=version or None,
            statuses=statuses,
            journals=journal or (),
        )
    )
    if as_json:
        views.print_json([report.document() for report in reports])
    elif reports:
        views.out().print(replay_table(reports))
    else:
        views.note("no runs to check")
    broken = [(report.id, report.verdict) for report in reports if not report.ok]
    if broken:
        raise ReplayWouldBreak(broken, len(reports))


def _statuses(text: str | None) -> list[RunStatus] | None:
    if text is None:
        return None
    return [one_of(RunStatus, "status", part.strip()) for part in text.split(",") if part.strip()]


def replay_table(reports: Sequence[ReplayReport]) -> Table:
    """One row a run: its id, workflow, status, verdict, and where the replay ended or why
    it would not replay."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for header in ("RUN", "WORKFLOW", "STATUS", "VERDICT", "WHERE"):
        table.add_column(header, overflow="fold")
    for report in reports:
        verdict = Text(report.verdict, style=VERDICT_STYLES[report.verdict])
        where = report.stopped or ""
        if report.error is not None:
            where = f"{report.error.type}: {report.error.message}"
        elif report.unconsumed:
            where += f" (not asked for yet: {', '.join(report.unconsumed)})"
        name = report.journal or f"{report.workflow}@{report.version}"
        table.add_row(report.id, name, str(report.status), verdict, where)
    return table


COMMANDS = {"replay": replay}
