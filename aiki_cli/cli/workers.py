"""The commands on workers and workflows (SPEC §6): `worker` executes runs until stopped
or idle, `workflows` lists what the workflows directory defines."""

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Annotated

import typer

from ..authoring.loader import tasks_of
from ..errors import BadInput
from ..values.duration import parse_duration
from ..worker.loop import Worker
from . import views
from .exits import EXIT
from .options import Options
from .params import JsonFlag

# How soon a parked run must be due for `worker --until-idle --include-sleeping` to wait.
DEFAULT_MAX_SLEEP = "60s"


def workflows(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List the workflows, versions and tasks the workflows directory defines."""
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
    options: Options = ctx.obj
    sleeping = _sleeping_within(until_idle, include_sleeping, max_sleep)
    versions = options.workflows()
    if not versions:
        raise BadInput(f"no workflows in {options.settings().workflows_dir}; nothing to execute")
    views.setup_logging(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("aiki.engine").setLevel(logging.INFO if verbose else logging.WARNING)
    runner = Worker(
        options.client(),
        versions.values(),
        concurrency=concurrency,
        grace_period=grace_period,
        poll_interval=poll_interval,
        retention=_retention(retention or options.settings().retention),
    )
    try:
        asyncio.run(_serve(runner, until_idle, sleeping))
    finally:
        EXIT.hard = runner.abandoned


def _sleeping_within(until_idle: bool, include: bool, max_sleep: str | None) -> float | None:
    """The seconds `--include-sleeping` waits for parked runs to come due, or None."""
    if not include and max_sleep is None:
        return None
    if not until_idle:
        raise BadInput("--include-sleeping and --max-sleep go with --until-idle")
    try:
        return parse_duration(max_sleep or DEFAULT_MAX_SLEEP, "--max-sleep").total_seconds()
    except ValueError as error:
        raise BadInput(str(error)) from None


def _retention(age: str | None) -> timedelta | None:
    try:
        return None if age is None else parse_duration(age, "retention")
    except ValueError as error:
        raise BadInput(str(error)) from None


async def _serve(runner: Worker, until_idle: bool, include_sleeping: float | None) -> None:
    """Run the worker; the first signal stops it gently, a second one at once."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not runner.stopping:
            views.note("stopping: finishing tasks in flight (signal again to stop now)")
        runner.stop(now=runner.stopping)

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal)
    await runner.run(until_idle=until_idle, include_sleeping=include_sleeping)


COMMANDS = {"workflows": workflows, "worker": worker}
