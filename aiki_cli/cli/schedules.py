"""The `aiki schedule` commands (SPEC §3 "Schedules"): add, list, pause, resume, remove.

A schedule is only a record in the store; the workers fire it (`aiki_cli.scheduler`).
Everything is checked before anything is written, so a rejected `add` leaves no trace.
"""

from __future__ import annotations

import re
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from ..codec import summarize
from ..duration import parse_duration
from ..errors import BadInput, ScheduleNotFound, WorkflowNotFound
from ..naming import split_ref
from ..schedule import SCHEDULE_ID, Schedule, check_cron, check_timezone
from ..store import Store
from ..workflow import WorkflowVersion
from . import streams, views
from .params import AikiTyper, one_of

if TYPE_CHECKING:
    from .app import Options

# Shorter intervals would start runs faster than a worker polls for them.
MIN_EVERY = 1.0


class OverlapPolicy(StrEnum):
    SKIP = "skip"
    ALLOW = "allow"
    CANCEL_PREVIOUS = "cancel_previous"


app = AikiTyper(help="Start runs on a cron schedule or at a fixed interval.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
ScheduleId = Annotated[
    str, typer.Argument(metavar="SCHEDULE_ID", help="The schedule id, as `schedule list` shows.")
]


@app.callback(invoke_without_command=True)
def _group(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command()
def add(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="NAME@VERSION", help="The workflow version to start.")
    ],
    schedule_id: Annotated[
        str | None,
        typer.Option(
            "--id",
            metavar="ID",
            help="The schedule's id [default: the workflow name, a random suffix].",
        ),
    ] = None,
    cron: Annotated[
        str | None, typer.Option(metavar="EXPR", help="Cron expression, e.g. '0 9 * * *'.")
    ] = None,
    tz: Annotated[
        str | None, typer.Option(metavar="ZONE", help="Time zone of --cron [default: UTC].")
    ] = None,
    every: Annotated[
        str | None, typer.Option(metavar="DURATION", help="Interval, e.g. 30s, 10m, 1h30m.")
    ] = None,
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", metavar="FILE", help="JSON input file, or - for stdin."),
    ] = None,
    input_json: Annotated[
        str | None, typer.Option(metavar="JSON", help="JSON input as text.")
    ] = None,
    overlap: Annotated[
        str,
        typer.Option(
            metavar="POLICY",
            help="While the previous run is active: skip, allow, or cancel_previous.",
        ),
    ] = OverlapPolicy.SKIP.value,
    as_json: JsonFlag = False,
) -> None:
    """Add a schedule that starts runs of NAME@VERSION. Prints its id alone on stdout."""
    options: Options = ctx.obj
    policy = one_of(OverlapPolicy, "--overlap policy", overlap)
    rule = _rule(cron, tz, every)
    name, _ = _split_ref(ref)
    data = _read_input(input, input_json)
    version = _version(options, ref)
    client = options.client()
    chosen = _new_id(client.store, schedule_id, name)
    now = client.clock.now()
    schedule = _schedule(
        id=chosen,
        workflow=version.name,
        version=version.version,
        input=version.inputs.encode(data),
        overlap=policy.value,
        created_at=now,
        next_due=now,
        **rule,
    )
    schedule = schedule.model_copy(update={"next_due": schedule.following(now)})
    schedule = _existing(client.store, schedule) or schedule
    client.store.save_schedule(schedule)
    if as_json:
        views.print_json(_document(schedule))
        return
    print(schedule.id, file=streams.stdout(), flush=True)
    views.note(
        f"scheduled {schedule.ref} as {schedule.id}, {views.schedule_rule(schedule)}; "
        f"first run due {views.schedule_time(schedule, schedule.next_due)}; "
        "`aiki worker` starts the runs"
    )


@app.command("list")
def list_schedules(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the schedules."""
    schedules = ctx.obj.client().store.schedules()
    if as_json:
        views.print_json([_document(schedule) for schedule in schedules])
    elif schedules:
        views.out().print(views.schedules_table(schedules))
    else:
        views.note("no schedules; `aiki schedule add` adds one")


@app.command()
def pause(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Stop a schedule from starting runs until it is resumed."""
    store: Store = ctx.obj.client().store
    schedule = _find(store, schedule_id)
    if schedule.paused:
        views.note(f"schedule {schedule.id} is already paused")
        return
    store.save_schedule(schedule.model_copy(update={"paused": True}))
    views.note(f"paused schedule {schedule.id}; `aiki schedule resume {schedule.id}` resumes it")


@app.command()
def resume(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Resume a paused schedule from its next occurrence (missed ones are not caught up)."""
    client = ctx.obj.client()
    schedule = _find(client.store, schedule_id)
    if not schedule.paused:
        views.note(f"schedule {schedule.id} is not paused")
        return
    due = schedule.following(client.clock.now())
    client.store.save_schedule(schedule.model_copy(update={"paused": False, "next_due": due}))
    views.note(f"resumed schedule {schedule.id}; next run due {views.schedule_time(schedule, due)}")


@app.command()
def remove(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Remove a schedule; the runs it started are kept."""
    store: Store = ctx.obj.client().store
    schedule = _find(store, schedule_id)
    store.remove_schedule(schedule.id)
    views.note(f"removed schedule {schedule.id}")


def _rule(cron: str | None, tz: str | None, every: str | None) -> dict[str, Any]:
    """The schedule's fields for its rule: a cron expression and zone, or an interval."""
    if (cron is None) == (every is None):
        raise BadInput("give exactly one of --cron EXPR or --every DURATION")
    try:
        if cron is not None:
            return {"cron": check_cron(cron), "timezone": check_timezone(tz or "UTC")}
        if tz is not None:
            raise ValueError("--tz applies to --cron schedules; an --every interval has no zone")
        seconds = parse_duration(every or "", "--every").total_seconds()
    except ValueError as error:
        raise BadInput(str(error)) from None
    if seconds < MIN_EVERY:
        raise BadInput(f"--every must be at least {MIN_EVERY:g}s, not {every!r}")
    return {"every": seconds}


def _split_ref(ref: str) -> tuple[str, str]:
    try:
        return split_ref(ref)
    except ValueError as error:
        raise BadInput(str(error)) from None


def _read_input(path: str | None, text: str | None) -> Any:
    from .app import _read_input  # app imports this module: read input the way `start` does

    return _read_input(path, text)


def _version(options: Options, ref: str) -> WorkflowVersion:
    versions = options.workflows()
    if ref not in versions:
        raise WorkflowNotFound(ref, sorted(versions))
    return versions[ref]


def _new_id(store: Store, chosen: str | None, workflow: str) -> str:
    """The id given (checked, and not taken), or the workflow's name and a random suffix."""
    if chosen is None:
        return f"{workflow[:56]}-{secrets.token_hex(3)}"
    if not re.fullmatch(SCHEDULE_ID, chosen):
        raise BadInput(
            f"schedule id {chosen[:70]!r} must start with a letter or digit and have at most "
            "64 letters, digits, '.', '_' and '-'"
        )
    return chosen


_DEFINITION = ("workflow", "version", "cron", "timezone", "every", "input", "overlap")


def _existing(store: Store, schedule: Schedule) -> Schedule | None:
    """The schedule already saved under `schedule`'s id, when it is the same schedule (the
    command is being repeated: saving it again sets its timer, should an earlier `add`
    have died before it did); None when there is none. `BadInput` when it differs."""
    existing = store.schedule(schedule.id)
    if existing is None:
        return None
    if any(getattr(existing, name) != getattr(schedule, name) for name in _DEFINITION):
        raise BadInput(
            f"schedule {schedule.id!r} already exists; pick another --id or "
            f"`aiki schedule remove {schedule.id}` first"
        )
    return existing


def _schedule(**fields: Any) -> Schedule:
    try:
        return Schedule(**fields)
    except ValidationError as error:
        raise BadInput(f"the schedule is invalid: {summarize(error)}") from None


def _find(store: Store, schedule_id: str) -> Schedule:
    found = store.schedule(schedule_id)
    if found is None:
        raise ScheduleNotFound(schedule_id, store.location)
    return found


def _document(schedule: Schedule) -> dict[str, Any]:
    return schedule.model_dump(mode="json")
