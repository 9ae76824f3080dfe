"""The `aiki schedule` commands (SPEC §3 "Schedules"): add, list, pause, resume, remove.

A schedule is only a record in the store; the workers fire it (`aiki_cli.worker.scheduler`).
Each command calls one `Client` schedule method, which checks everything before it
writes, so a rejected `add` leaves no trace.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..model.schedule import Overlap, Schedule
from . import streams, views
from .inputs import read_input, split_ref_or_fail
from .options import Options
from .params import AikiTyper, InputFile, InputJson, JsonFlag, one_of
from .settle import settled

app = AikiTyper(help="Start runs on a cron schedule or at a fixed interval.")

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
    input: InputFile = None,
    input_json: InputJson = None,
    overlap: Annotated[
        str,
        typer.Option(
            metavar="POLICY",
            help="While the previous run is active: skip, allow, or cancel_previous.",
        ),
    ] = Overlap.SKIP.value,
    as_json: JsonFlag = False,
) -> None:
    """Add a schedule that starts runs of NAME@VERSION. Prints its id alone on stdout."""
    options: Options = ctx.obj
    policy = one_of(Overlap, "--overlap policy", overlap)
    split_ref_or_fail(ref)
    data = read_input(input, input_json)
    version = options.version(ref)
    schedule = settled(
        options.client().add_schedule(
            version,
            data,
            cron=cron,
            timezone=tz,
            every=every,
            overlap=policy,
            schedule_id=schedule_id,
        )
    )
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
    schedules = settled(ctx.obj.client().schedules())
    if as_json:
        views.print_json([_document(schedule) for schedule in schedules])
    elif schedules:
        views.out().print(views.schedules_table(schedules))
    else:
        views.note("no schedules; `aiki schedule add` adds one")


@app.command()
def pause(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Stop a schedule from starting runs until it is resumed."""
    client = ctx.obj.client()
    schedule = settled(client.get_schedule(schedule_id))
    if schedule.paused:
        views.note(f"schedule {schedule.id} is already paused")
        return
    settled(client.pause_schedule(schedule.id))
    views.note(f"paused schedule {schedule.id}; `aiki schedule resume {schedule.id}` resumes it")


@app.command()
def resume(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Resume a paused schedule from its next occurrence (missed ones are not caught up)."""
    client = ctx.obj.client()
    schedule = settled(client.get_schedule(schedule_id))
    if not schedule.paused:
        views.note(f"schedule {schedule.id} is not paused")
        return
    due = settled(client.resume_schedule(schedule.id)).next_due
    views.note(f"resumed schedule {schedule.id}; next run due {views.schedule_time(schedule, due)}")


@app.command()
def remove(ctx: typer.Context, schedule_id: ScheduleId) -> None:
    """Remove a schedule; the runs it started are kept."""
    removed = settled(ctx.obj.client().remove_schedule(schedule_id))
    views.note(f"removed schedule {removed.id}")


def _document(schedule: Schedule) -> dict[str, Any]:
    return schedule.model_dump(mode="json")
