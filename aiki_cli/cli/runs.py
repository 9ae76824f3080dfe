"""The commands on runs (SPEC §6): start, status, cancel, send, pause, resume, wake,
retry, list, wait and history. Each reads its settings, calls the client once, renders."""

import asyncio
import json
from collections.abc import Sequence
from typing import Annotated

import typer

from ..authoring.workflow import WorkflowVersion
from ..client import Client
from ..errors import RunNotEnded, WorkflowNotFound
from ..model.entry import dump_entry
from ..model.runinfo import DamagedRun, RunInfo
from ..model.status import RunStatus
from . import streams, views
from .follow import await_run, finish, say_no_worker, unattended
from .inputs import read_input, split_ref_or_fail
from .options import Options
from .params import InputFile, InputJson, JsonFlag, one_of
from .timeline import LAST_ENTRIES, timeline

RunId = Annotated[
    str, typer.Argument(metavar="RUN_ID", help="The run id, as printed by `aiki start`.")
]
Timeout = Annotated[
    float | None,
    typer.Option(min=0, metavar="SECONDS", help="Give up after this many seconds (exit 5)."),
]
AllTasks = Annotated[
    bool, typer.Option("--all", help=f"Show every task, not the last {views.LAST_TASKS}.")
]


def start(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="NAME@VERSION", help="The workflow version to run.")
    ],
    input: InputFile = None,
    input_json: InputJson = None,
    idempotency_key: Annotated[
        str | None, typer.Option(metavar="KEY", help="Start at most one run for this key.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait for the run to end; exit by its outcome.")
    ] = False,
    delay: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="Start no sooner than this from now: 30s, 5m, 2h, 1d."
        ),
    ] = None,
    timeout: Timeout = None,
    as_json: JsonFlag = False,
    all_tasks: AllTasks = False,
) -> None:
    """Start a run. Prints its id alone on stdout; with --wait, exits 0/1/3/5 by outcome."""
    options: Options = ctx.obj
    data = read_input(input, input_json)
    split_ref_or_fail(ref)
    versions = options.workflows()
    if ref not in versions:
        raise WorkflowNotFound(ref, sorted(versions))
    client = options.client()
    before = client.clock.now()
    spec = client.create(versions[ref], data, idempotency_key, delay=delay)
    if not as_json:
        print(spec.id, file=streams.stdout(), flush=True)
    if not wait:
        if as_json:
            views.print_json(asyncio.run(client.get(spec.id)).document())
        elif spec.created_at < before:
            views.note(f"run {spec.id} already exists for idempotency key {idempotency_key!r}")
        else:
            views.note(f"started {ref} as run {spec.id}; `aiki status {spec.id}` follows it")
        return
    info = asyncio.run(await_run(client, versions, ref, spec.id, timeout))
    finish(info, as_json, all_tasks=all_tasks)


def status(
    ctx: typer.Context,
    run_id: RunId,
    as_json: JsonFlag = False,
    all_tasks: AllTasks = False,
    exit_code: Annotated[
        bool,
        typer.Option(
            "--exit-code",
            help="Exit by the run's outcome, as `wait --timeout 0` does: 0 completed, "
            "1 failed, 3 cancelled, 5 not ended yet. Without it: 0 whenever the run is shown.",
        ),
    ] = False,
) -> None:
    """Show a run: its status, what it waits for, its result or error, and its last tasks."""
    info = asyncio.run(ctx.obj.client().get(run_id))
    if as_json:
        views.print_json(info.document())
    else:
        views.out().print(views.run_panel(info, all_tasks=all_tasks))
    if exit_code and not info.status.terminal:
        raise RunNotEnded(info.id, info.status)
    if exit_code:
        info.raise_for_outcome()


def cancel(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Cancel a run; a run being executed stops at its next task boundary."""
    info = asyncio.run(ctx.obj.client().cancel(run_id))
    if as_json:
        views.print_json(info.document())
    elif info.cancel_requested:
        views.note(f"cancel of run {run_id} requested; its worker stops it at the next task")
    else:
        views.note(f"run {run_id} is cancelled")


def send(
    ctx: typer.Context,
    run_id: RunId,
    event: Annotated[
        str, typer.Argument(metavar="EVENT", help="The event's name, as the workflow waits for it.")
    ],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", metavar="FILE", help="JSON data file, or - for stdin."),
    ] = None,
    data_json: Annotated[
        str | None, typer.Option(metavar="JSON", help="JSON data as text.")
    ] = None,
    reference_id: Annotated[
        str | None, typer.Option(metavar="ID", help="Deliver at most once for this reference id.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send an event to a run; it is kept until the run waits for it."""
    options: Options = ctx.obj
    payload = read_input(data, data_json, ("--data", "--data-json"))
    client = options.client()
    info = asyncio.run(client.get(run_id))
    folder = options.settings().workflows_dir
    version = (
        options.workflows().get(f"{info.workflow}@{info.version}") if folder.is_dir() else None
    )
    sent = asyncio.run(
        client.send(run_id, event, payload, reference_id=reference_id, version=version)
    )
    if as_json:
        views.print_json({"id": info.id, "event": event, "delivered": sent})
    elif sent:
        views.note(f"sent {event!r} to run {info.id}")
    else:
        views.note(
            f"{event!r} with reference id {reference_id!r} was already sent to run {info.id}"
        )


def _control(ctx: typer.Context, action: str, run_id: str, as_json: bool) -> RunInfo | None:
    """Call the client's `action` on the run; its state after, unless printed as JSON."""
    info: RunInfo = asyncio.run(getattr(ctx.obj.client(), action)(run_id))
    if as_json:
        views.print_json(info.document())
        return None
    return info


def pause(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Pause a run: it is not executed until resumed (a running one pauses at its next task)."""
    if info := _control(ctx, "pause", run_id, as_json):
        if info.status == RunStatus.PAUSED:
            views.note(f"run {info.id} is paused; `aiki resume {info.id}` continues it")
        else:
            views.note(f"pause of run {info.id} requested; its worker pauses it at the next task")


def resume(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Resume a paused run where it was."""
    if info := _control(ctx, "resume", run_id, as_json):
        views.note(f"run {info.id} is {info.status} again")


def wake(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """End a sleeping run's sleep now."""
    if info := _control(ctx, "wake", run_id, as_json):
        views.note(f"run {info.id} wakes as soon as a worker takes it")


def retry(
    ctx: typer.Context,
    run_id: RunId,
    wait: Annotated[
        bool, typer.Option(help="Wait for the run to end, as `start --wait`; exit by its outcome.")
    ] = False,
    timeout: Timeout = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a failed or cancelled run again under its id; completed tasks are not re-run."""
    if wait:
        _retry_and_wait(ctx.obj, run_id, timeout, as_json)
    elif info := _control(ctx, "retry", run_id, as_json):
        views.note(f"run {info.id} is {info.status} as attempt {info.attempt}; a worker runs it")


def _retry_and_wait(options: Options, run_id: str, timeout: float | None, as_json: bool) -> None:
    """`retry --wait`: like `start --wait`, executed here when no running worker loads the
    run's workflow; refused before anything is written when nothing could execute it."""
    client = options.client()
    before = asyncio.run(client.get(run_id))
    ref = f"{before.workflow}@{before.version}"
    versions: dict[str, WorkflowVersion] = {}
    if not client.serving(ref):
        versions = options.workflows()
        if ref not in versions:
            raise WorkflowNotFound(ref, sorted(versions))
    info = asyncio.run(client.retry(run_id))
    views.note(f"run {info.id} is {info.status} as attempt {info.attempt}")
    finish(asyncio.run(await_run(client, versions, ref, run_id, timeout)), as_json)


def list_runs(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            metavar="STATUS",
            help="Only runs in this status: " + ", ".join(s.value for s in RunStatus) + ".",
        ),
    ] = None,
    workflow: Annotated[
        str | None, typer.Option(metavar="NAME[@VERSION]", help="Only runs of this workflow.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most this many runs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first; runs whose files are damaged show as `damaged`."""
    wanted = one_of(RunStatus, "status", status) if status is not None else None
    name, version = (workflow or "").partition("@")[::2]
    client: Client = ctx.obj.client()
    found: Sequence[RunInfo | DamagedRun] = asyncio.run(  # one more tells if there are more
        client.list(status=wanted, workflow=name or None, version=version or None, limit=limit + 1)
        if wanted is not None
        else client.list_with_damaged(
            workflow=name or None, version=version or None, limit=limit + 1
        )
    )
    rows = found[:limit]
    if as_json:
        views.print_json([row.document(full=False) for row in rows])
    elif rows:
        views.print_runs(rows)
        if damaged := sum(isinstance(row, DamagedRun) for row in rows):
            views.note(
                f"{damaged} damaged run(s); `aiki doctor` says what is wrong and how to fix it"
            )
        if len(found) > limit:
            views.note(f"… more runs than these {limit}; `--limit N` lists up to N")
    else:
        views.note("no runs")


def wait(
    ctx: typer.Context, run_id: RunId, timeout: Timeout = None, as_json: JsonFlag = False
) -> None:
    """Wait for a run to end; exit 0 completed, 1 failed, 3 cancelled, 5 timed out. Without
    --timeout, gives up (exit 5) once no worker for the run has been running for 60s."""
    client: Client = ctx.obj.client()
    info = asyncio.run(client.get(run_id))  # an unknown run fails now, not after the timeout
    ref = f"{info.workflow}@{info.version}"
    if not info.status.terminal and not client.serving(ref):
        say_no_worker(ref, timeout)
    waited = unattended(timeout)
    finish(asyncio.run(client.wait(run_id, timeout=timeout, unattended=waited)), as_json)


def history(
    ctx: typer.Context,
    run_id: RunId,
    as_json: JsonFlag = False,
    all_entries: Annotated[
        bool,
        typer.Option("--all", help=f"Show every entry, not the last {LAST_ENTRIES}."),
    ] = False,
) -> None:
    """Show a run's journal as a timeline (its last entries; --all for every one)."""
    client: Client = ctx.obj.client()
    info = asyncio.run(client.get(run_id))
    entries = asyncio.run(client.history(run_id))
    if as_json:
        views.print_json([json.loads(dump_entry(entry)) for entry in entries])
    else:
        if info.forked_from:
            views.out().print(f"forked from {info.forked_from}", highlight=False)
        views.out().print(timeline(entries, info.created_at, all_entries=all_entries))


# The commands by name, in the order `aiki --help` lists them.
COMMANDS = {
    "start": start,
    "status": status,
    "cancel": cancel,
    "send": send,
    "pause": pause,
    "resume": resume,
    "wake": wake,
    "retry": retry,
    "list": list_runs,
    "wait": wait,
    "history": history,
}
