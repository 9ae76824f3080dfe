"""`aiki worker`'s work, without typer: execute runs from the store until stopped
(SIGINT/SIGTERM) or idle, then say on stderr what was run. The `worker` command
(`workers`) and the front door (`door`, for the plain forms scripts type) both call
`serve`."""

from __future__ import annotations

import logging
import signal
from datetime import timedelta
from typing import TYPE_CHECKING

from ..errors import BadInput
from ..values.duration import parse_duration
from . import views
from .exits import EXIT

if TYPE_CHECKING:
    from ..worker.loop import Worker
    from .options import Options

# How soon a parked run must be due for `worker --until-idle --include-sleeping` to wait.
DEFAULT_MAX_SLEEP = "60s"


def serve(
    options: Options,
    *,
    concurrency: int = 10,
    until_idle: bool = False,
    grace_period: float = 10.0,
    poll_interval: float = 0.2,
    include_sleeping: bool = False,
    max_sleep: str | None = None,
    verbose: bool = False,
    retention: str | None = None,
) -> None:
    """Execute runs with the command's `options` (store, workflows) until stopped or,
    with `until_idle`, idle; the rest as `aiki worker --help` says."""
    import asyncio

    from ..worker.loop import Worker

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
    import asyncio

    from . import live

    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not runner.stopping:
            views.note("stopping: finishing tasks in flight (signal again to stop now)")
        runner.stop(now=runner.stopping)

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal)
    async with live.showing_runs(runner.client, live.mode(False), lambda: runner.executing):
        await runner.run(until_idle=until_idle, include_sleeping=include_sleeping)
