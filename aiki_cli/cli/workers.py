"""The commands on workers and workflows (SPEC §6): `worker` executes runs until stopped
or idle, `workflows` lists what the workflows directory defines."""

from __future__ import annotations

from typing import Annotated

import typer

from . import views
from .params import JsonFlag
from .serve import serve


def workflows(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the workflows, versions and tasks the workflows directory defines."""
    from ..authoring.loader import tasks_of

    versions = sorted(ctx.obj.workflows().values(), key=lambda v: (v.name, v.version))
    tasks = {version.ref: tasks_of(version) for version in versions}
    if as_json:
        views.print_json(
            [{"workflow": v.name, "version": v.version, "tasks": tasks[v.ref]} for v in versions]
        )
    elif versions:
        views.out().print(views.workflows_table(versions, tasks))
    else:
        views.note(f"no workflows in {ctx.obj.settings().workflows_dir}")


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int, typer.Option(min=1, metavar="N", help="Runs executed at once.")
    ] = 10,
    until_idle: Annotated[
        bool, typer.Option(help="Exit once no run is left to execute (for CI).")
    ] = False,
    grace_period: Annotated[
        float,
        typer.Option(
            min=0, metavar="SECONDS", help="Seconds in-flight tasks get on SIGINT/SIGTERM."
        ),
    ] = 10.0,
    poll_interval: Annotated[
        float, typer.Option(min=0.01, metavar="SECONDS", help="Seconds between polls.")
    ] = 0.2,
    include_sleeping: Annotated[
        bool,
        typer.Option(
            help="With --until-idle: first wait for parked runs due within --max-sleep "
            "(sleeps, retries, delayed starts)."
        ),
    ] = False,
    max_sleep: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="How soon a parked run must be due for --include-sleeping to wait for it "
            "(implies it): 30s, 5m. [default: 60s]",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every run.")] = False,
    retention: Annotated[
        str | None,
        typer.Option(
            metavar="AGE",
            help="Remove ended runs older than this as it goes: 30d [aiki.yaml retention:].",
        ),
    ] = None,
) -> None:
    """Execute runs from the store until stopped (SIGINT/SIGTERM) or, with --until-idle, idle.
    Says on stderr what it ran when it exits."""
    serve(
        ctx.obj,
        concurrency=concurrency,
        until_idle=until_idle,
        grace_period=grace_period,
        poll_interval=poll_interval,
        include_sleeping=include_sleeping,
        max_sleep=max_sleep,
        verbose=verbose,
        retention=retention,
    )


COMMANDS = {"workflows": workflows, "worker": worker}
