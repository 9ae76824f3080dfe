"""`aiki doctor`: check the run store, and rebuild what is derived from its runs."""

from typing import Annotated

import typer

from . import views
from .params import JsonFlag
from .settle import settled


def doctor(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Rebuild indexes and remove leftovers; journals are never changed."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check the run store: every run parses, journals and indexes agree, nothing is left
    over. Says how to fix what is wrong; exits 1 while damage remains."""
    report = settled(ctx.obj.client().doctor(repair=repair))
    if as_json:
        views.print_json(report.document())
    else:
        views.doctor_report(report, repair)
    if not report.healthy:
        raise typer.Exit(1)


COMMANDS = {"doctor": doctor}
