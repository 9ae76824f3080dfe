"""`aiki gc`: remove finished runs older than an age, archiving them first if asked."""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from ..client import Client
from ..engine.retention import ENDED, Policy, Report
from ..errors import BadInput
from ..values.duration import parse_duration
from . import streams, views
from .params import JsonFlag
from .transfer import statuses_of


def gc(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option(metavar="AGE", help="Remove runs that ended longer ago: 30d, 12h.")
    ],
    status: Annotated[
        str,
        typer.Option(metavar="STATUS,…", help="Only runs that ended so."),
    ] = ",".join(ENDED),
    workflow: Annotated[
        str | None, typer.Option(metavar="NAME", help="Only runs of this workflow.")
    ] = None,
    archive: Annotated[
        Path | None,
        typer.Option(metavar="FILE.tar.gz", help="Write the runs here first (a new file)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove ended runs older than AGE (never one that has not ended, nor one whose
    parent has not), from every index; safe while workers run. Prints what it removed
    and the bytes freed."""
    policy = Policy(_age(older_than), statuses_of(status), workflow)
    client: Client = ctx.obj.client()
    report = asyncio.run(client.gc(policy, archive=archive, dry_run=dry_run))
    if as_json:
        views.print_json(report.document())
    else:
        _print(report)


def _age(text: str) -> timedelta:
    try:
        return parse_duration(text, "--older-than")
    except ValueError as error:
        raise BadInput(str(error)) from None


def _print(report: Report) -> None:
    stream = streams.stdout()
    verb = "would remove" if report.dry_run else "removed"
    for run in report.runs:
        ended = run.ended_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{run.id}  {run.workflow}@{run.version}  {run.status}  ended {ended}", file=stream)
    archived = f", archived to {report.archive}" if report.archive and report.runs else ""
    print(f"{verb} {len(report.runs)} run(s), {report.bytes} bytes{archived}", file=stream)


COMMANDS = {"gc": gc}
