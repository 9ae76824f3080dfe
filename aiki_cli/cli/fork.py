"""`aiki fork RUN_ID --from TASK[#N]`: a new run that reuses what the run recorded before
the N-th call of TASK and executes from there. Prints the new run's id alone on stdout
(as `start` does); `--dry-run` prints which calls would be reused and which executed."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from ..engine.fork import ForkPlan
from ..errors import BadInput, WorkflowNotFound
from . import streams, views
from .inputs import read_input
from .options import Options
from .params import InputFile, InputJson, JsonFlag

if TYPE_CHECKING:
    from rich.table import Table


def fork(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to fork.")],
    start_from: Annotated[
        str,
        typer.Option(
            "--from", metavar="TASK[#N]", help="Execute from the N-th call of TASK (default 1)."
        ),
    ],
    version: Annotated[
        str | None,
        typer.Option(metavar="VERSION", help="Run on this version of the workflow instead."),
    ] = None,
    input: InputFile = None,
    input_json: InputJson = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be reused; start nothing.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Start a new run from a step of an ended or paused run: the results recorded before
    that call are reused, by content address, and the run executes from there."""
    task, call = parse_from(start_from)
    options: Options = ctx.obj
    data = read_input(input, input_json)
    new_input = data if input is not None or input_json is not None else ...
    client = options.client()
    source = asyncio.run(client.get(run_id))
    ref = f"{source.workflow}@{version or source.version}"
    versions = options.workflows()
    if ref not in versions:
        raise WorkflowNotFound(ref, sorted(versions))
    plan = asyncio.run(
        client.fork(run_id, task, call, code=versions[ref], input=new_input, dry_run=dry_run)
    )
    if as_json:
        views.print_json(plan.document())
    elif dry_run:
        views.out().print(plan_table(plan))
        views.note(f"then the new run: {plan.then}; nothing was started (--dry-run)")
    else:
        print(plan.run_id, file=streams.stdout(), flush=True)
        reused = sum(call.reused for call in plan.calls)
        views.note(
            f"forked {plan.forked_from} as run {plan.run_id} of {ref}: {reused} call(s) "
            f"reused, then {plan.then}; a worker runs it"
        )


def parse_from(text: str) -> tuple[str, int]:
    """`TASK` or `TASK#N` as the task's name and N (from 1)."""
    task, _, number = text.rpartition("#") if "#" in text else (text, "", "1")
    if not task or not number.isdigit() or int(number) < 1:
        raise BadInput(f"--from {text!r} is not TASK or TASK#N with N from 1 (charge#2)")
    return task, int(number)


def plan_table(plan: ForkPlan) -> Table:
    """Each call of the source run, and whether the fork reuses or executes it."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for header in ("TASK", "CALL", "HASH", "IN THE FORK"):
        table.add_column(header)
    for call in plan.calls:
        what = Text("reused", style="green") if call.reused else Text("executes", style="cyan")
        table.add_row(call.task, f"#{call.call}", call.hash[:12], what)
    return table


COMMANDS = {"fork": fork}
