"""The `aiki db` commands: `migrate` creates or upgrades a database store's schema.

Safe to run again and from several hosts at once; every other command refuses a
database whose schema is missing or older, and says to run it.
"""

from __future__ import annotations

import typer

from . import views
from .options import Options
from .params import AikiTyper

app = AikiTyper(help="Set up a database store (PostgreSQL).")


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the store's tables (`--store postgresql://…`); idempotent."""
    options: Options = ctx.obj
    client = options.client()
    try:
        versions = client.migrate()
    finally:
        client.close()
    location = client.store.location
    if versions is None:
        views.note(f"{location} is a directory: it needs no migration")
    elif versions[0] == versions[1]:
        views.note(f"{location}: schema already at version {versions[1]}")
    else:
        views.note(f"{location}: schema migrated from version {versions[0]} to {versions[1]}")
