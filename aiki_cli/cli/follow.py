"""Following a run to its end from the CLI (`start --wait`, `retry --wait`, `wait`): wait
for a worker to execute it, or execute it here, then show how it ended and exit by it;
and `status --follow`, `history --follow`: show the run as its journal grows."""

import asyncio
import signal
from collections.abc import Callable
from typing import TextIO

from ..authoring.workflow import WorkflowVersion
from ..client import Client
from ..errors import Interrupted
from ..model.entry import Entry, dump_entry
from ..model.journal import left_open
from ..model.runinfo import RunInfo
from ..model.status import RunStatus
from ..worker.loop import Worker
from . import live, streams, views
from .exits import EXIT
from .timeline import timeline, timeline_rows

# Without --timeout, waiting for a run gives up (exit 5) once no worker that loads its
# workflow has been running for this long, so that a CI job never hangs on a missing worker.
NO_WORKER_GRACE = 60.0


async def await_run(
    client: Client,
    versions: dict[str, WorkflowVersion],
    ref: str,
    run_id: str,
    timeout: float | None,
    as_json: bool = False,
) -> RunInfo:
    """Wait for a live worker that loads `ref` to finish the run, or execute it here when
    none does (a worker that does not load it would never take it). When `versions` lacks
    `ref` (the worker seen a moment ago has gone), wait for the next worker, not for ever.
    On a terminal, the run's live line shows meanwhile."""
    serving = client.serving(ref)
    if serving or ref not in versions:
        views.note(
            f"a worker is running; waiting for run {run_id}"
            if serving
            else f"no running worker loads {ref}; waiting for one to execute run {run_id}"
        )
        return await wait_showing(client, run_id, timeout, unattended(timeout), as_json)
    if client.workers_alive():
        views.note(f"no running worker loads {ref}; executing run {run_id} here")
    async with live.following(client, run_id, as_json):
        return await _drive(client, Worker(client, versions.values()), run_id, timeout)


async def wait_showing(
    client: Client, run_id: str, timeout: float | None, waited: float | None, as_json: bool
) -> RunInfo:
    """`client.wait`, with the run's live line on a terminal meanwhile."""
    async with live.following(client, run_id, as_json):
        return await client.wait(run_id, timeout=timeout, unattended=waited)


async def _drive(client: Client, driver: Worker, run_id: str, timeout: float | None) -> RunInfo:
    """Execute the run here. Ctrl-C (or SIGTERM) hands it back to the queue at once; if a
    task body still runs in a thread, the worker keeps the run claimed and the process
    exits as `kill -9` would, ending the thread before anyone else can take the run."""
    signals: list[int] = []

    def interrupt(number: int) -> None:
        signals.append(number)
        driver.stop(now=True)

    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, interrupt, number)
    try:
        info = await driver.drive(run_id, timeout=timeout)
    finally:
        EXIT.hard = driver.abandoned
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
    if signals and not info.status.terminal:
        stopped = left_open(await client.history(run_id))
        raise Interrupted(run_id, info.status, stopped, keyed=info.idempotency_key is not None)
    return info


def unattended(timeout: float | None) -> float | None:
    """How long a wait without `--timeout` goes on with no worker for the run: not for ever."""
    return NO_WORKER_GRACE if timeout is None else None


def say_no_worker(ref: str, timeout: float | None) -> None:
    """Say up front that nothing executes the run, and when `wait` gives up."""
    if timeout is None:
        limit = f"if none starts within {NO_WORKER_GRACE:g}s"
    else:
        limit = f"after {timeout:g}s"
    views.note(
        f"no worker that loads {ref} is running (`aiki worker` executes the run); "
        f"giving up (exit 5) {limit}"
    )


def finish(info: RunInfo, as_json: bool, *, all_tasks: bool = False) -> None:
    """Show how the run ended and exit with its code: 0 completed, 1 failed, 3 cancelled."""
    if as_json:
        views.print_json(info.document())
    elif info.status == RunStatus.COMPLETED:
        views.err().print(views.run_panel(info, all_tasks=all_tasks))
    info.raise_for_outcome()


async def follow_status(client: Client, run_id: str, as_json: bool, all_tasks: bool) -> RunInfo:
    """`status --follow`: on a terminal, the run's panel redrawn as entries arrive; off
    one, the panel once the run ends; with `as_json`, each new entry as a JSON line."""
    if as_json:
        return await _entry_lines(client, run_id)
    console = views.out()
    if not console.is_terminal:
        info = await _followed(client, run_id)
        console.print(views.run_panel(info, all_tasks=all_tasks))
        return info
    from rich.live import Live

    with Live(console=console, auto_refresh=False) as shown:
        async for _, info in client.follow(run_id):
            shown.update(views.run_panel(info, all_tasks=all_tasks), refresh=True)
    return info


async def follow_history(client: Client, run_id: str, as_json: bool, all_entries: bool) -> RunInfo:
    """`history --follow`: the timeline, then a row for each entry as it arrives; with
    `as_json`, each entry as a JSON line."""
    if as_json:
        return await _entry_lines(client, run_id)
    console = views.out()
    first = True
    async for entries, info in client.follow(run_id):
        if first:
            console.print(timeline(entries, info.created_at, all_entries=all_entries))
            first = False
        elif entries:
            console.print(timeline_rows(entries, info.created_at))
    return info


async def _entry_lines(client: Client, run_id: str) -> RunInfo:
    """Every entry of the run's journal, then each new one, one JSON object a line."""
    out = streams.stdout()
    return await _followed(client, run_id, lambda entries: _write_lines(out, entries))


def _write_lines(out: TextIO, entries: list[Entry]) -> None:
    for entry in entries:
        out.write(dump_entry(entry).decode() + "\n")
    out.flush()


async def _followed(
    client: Client, run_id: str, each: Callable[[list[Entry]], None] = lambda _: None
) -> RunInfo:
    """Follow the run to its end, giving `each` batch of new entries; how it ended."""
    ended = None
    async for entries, info in client.follow(run_id):
        each(entries)
        ended = info
    assert ended is not None
    return ended
