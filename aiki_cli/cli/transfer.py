"""Commands that move whole runs: `export`, `import`, `copy` (between stores) and
`restore` (from a gc archive). Each reads its settings, calls the client, prints the ids."""

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ..client import Client
from ..errors import BadInput, InputInvalid
from ..model.export import RunExport
from ..model.status import RunStatus
from . import streams, views
from .inputs import read_input
from .options import Options
from .params import one_of


def export(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to export.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write it here, not to stdout."),
    ] = None,
) -> None:
    """Print a run as one JSON document: spec, journal, unread mail, requests."""
    client: Client = ctx.obj.client()
    text = asyncio.run(client.export_run(run_id)).to_json()
    if output is None:
        streams.stdout().write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot write {output}: {error.strerror}") from None
    views.note(f"exported run {run_id} to {output}")


def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(metavar="FILE", help="An exported run, or - for stdin.")],
    new_id: Annotated[
        bool, typer.Option("--new-id", help="Give the run a new id (and no idempotency key).")
    ] = False,
) -> None:
    """Load an exported run into the store; prints its id there. Refuses an id the
    store has (exit 2) unless --new-id."""
    run = _exported(file)
    client: Client = ctx.obj.client()
    run_id = asyncio.run(client.import_run(run, new_id=new_id))
    print(run_id, file=streams.stdout(), flush=True)
    views.note(f"imported run {run.spec.id}" + (f" as {run_id}" if run_id != run.spec.id else ""))


def _exported(file: str) -> RunExport:
    data = read_input(file, None, ("FILE", ""))
    try:
        return RunExport.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        raise InputInvalid(f"the exported run {file}", detail) from None


def copy(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--to", metavar="LOCATION", help="The store to copy to.")],
    run_ids: Annotated[
        list[str] | None, typer.Argument(metavar="RUN_ID", help="The runs to copy.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="LOCATION", help="The store to copy from [default: the store]."
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS,…", help="Copy the runs in these statuses (with no RUN_ID)."),
    ] = None,
) -> None:
    """Copy runs, finished or not, with journals, mail and requests, to another store;
    prints the ids copied. Refuses a run a worker holds, or one the target has."""
    if run_ids and status:
        raise BadInput("give RUN_IDs or --status, not both")
    options: Options = ctx.obj
    client = Client(source) if source else options.client()
    statuses = statuses_of(status) if status else ()
    copied = asyncio.run(client.copy_to(target, run_ids or (), statuses=statuses))
    for run_id in copied:
        print(run_id, file=streams.stdout())
    views.note(f"copied {len(copied)} run(s) from {client.store.location} to {target}")


def restore(
    ctx: typer.Context,
    archive: Annotated[
        Path, typer.Argument(metavar="FILE.tar.gz", help="An archive of `aiki gc`.")
    ],
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Restore the others when some runs exist.")
    ] = False,
) -> None:
    """Bring the runs of a gc archive back; prints their ids. Refuses (exit 2, nothing
    restored) when the store has one of them, unless --skip-existing."""
    client: Client = ctx.obj.client()
    restored = asyncio.run(client.restore(archive, skip_existing=skip_existing))
    for run_id in restored:
        print(run_id, file=streams.stdout())
    views.note(f"restored {len(restored)} run(s) from {archive}")


def statuses_of(text: str) -> Sequence[RunStatus]:
    """`completed,failed` as statuses; `BadInput` naming the choices otherwise."""
    return [one_of(RunStatus, "status", part.strip()) for part in text.split(",") if part.strip()]


COMMANDS = {"export": export, "import": import_, "copy": copy, "restore": restore}
