"""The `aiki` commands (SPEC §6). Each reads its settings, calls the client or the worker
once, and renders; `AikiGroup.main` is the one place where errors become exit codes."""

import asyncio
import copy
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import config
from ..client import Client
from ..duration import parse_duration
from ..entry import dump_entry
from ..errors import (
    AikiError,
    BadInput,
    Interrupted,
    InvalidJSON,
    RunCancelled,
    RunFailed,
    RunNotEnded,
    WorkflowNotFound,
)
from ..journal import left_open
from ..loader import load_workflows, tasks_of
from ..naming import split_ref
from ..record import DamagedRun, RunInfo
from ..status import RunStatus
from ..worker import Worker
from ..workflow import WorkflowVersion
from . import doctor, schedules, streams, views
from .params import AikiTyper, one_of

# Exit codes of SPEC §6 that are not an error's own.
OK, USAGE, INTERRUPTED = 0, 2, 130
# Without --timeout, waiting for a run gives up (exit 5) once no worker that loads its
# workflow has been running for this long, so that a CI job never hangs on a missing worker.
NO_WORKER_GRACE = 60.0
# How soon a parked run must be due for `worker --until-idle --include-sleeping` to wait.
DEFAULT_MAX_SLEEP = "60s"


@dataclass
class _Exit:
    """Set when runs were abandoned while a plain-function task of theirs still runs in a
    thread: Python would wait for the thread at exit, and the task with it, after its run
    went back to the queue for another worker. The process then leaves as `kill -9` would."""

    hard: bool = False


EXIT = _Exit()
GC_THRESHOLD = 10_000  # objects made and not yet freed between two collector passes


class AikiGroup(TyperGroup):
    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        """Run a command with stdout its own (`streams`): it exits in `_main`, diverted."""
        with streams.kept():
            self._main(args, *rest, **extra)

    def _main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        """Run a command; turn any error into one line on stderr and its exit code."""
        extra["standalone_mode"] = False
        try:
            code = super().main(
                _hoist_globals(sys.argv[1:] if args is None else args), *rest, **extra
            )
        except AikiError as error:
            _fail(error.message, error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", INTERRUPTED)
        except Exception as error:
            if _is_usage_error(error):
                _fail(error.format_message(), USAGE)  # type: ignore[attr-defined]
            if os.environ.get("AIKI_DEBUG"):
                raise
            _fail(f"internal error: {type(error).__name__}: {error} (AIKI_DEBUG=1 shows more)", 1)
        _exit(code if isinstance(code, int) else OK)


GLOBAL_OPTIONS = ("--runs-dir", "--workflows-dir")
_GLOBALS_WITH_VALUE = tuple(option + "=" for option in GLOBAL_OPTIONS)  # --runs-dir=runs


def _hoist_globals(args: Sequence[str]) -> list[str]:
    """Move the global options to the front, so they work after the command name too."""
    front, rest = _split_globals(args)
    return front + rest


def _split_globals(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """The global options with their values, and the other tokens, each in order."""
    front: list[str] = []
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if token in GLOBAL_OPTIONS:
            value = next(tokens, None)
            if value is None:
                raise BadInput(f"Option '{token}' requires an argument.")
            front += [token, value]
        elif token.startswith(_GLOBALS_WITH_VALUE):
            front.append(token)
        else:
            rest.append(token)
    return front, rest


def _is_usage_error(error: Exception) -> bool:
    """Typer's (or click's) parameter and usage errors, whichever copy of click raised them."""
    return callable(getattr(error, "format_message", None)) and hasattr(error, "exit_code")


def _fail(message: str, code: int) -> None:
    views.error_line(message)
    _exit(code)


def _exit(code: int) -> None:
    if EXIT.hard:  # user code may still print: stdout stays diverted to the end
        streams.stdout().flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


app = AikiTyper(
    cls=AikiGroup,
    help="Durable workflows for Python, stored in plain files.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(schedules.app, name="schedule")


@dataclass
class Options:
    runs_dir: str | None
    workflows_dir: str | None

    def settings(self) -> config.Settings:
        return config.resolve(runs_dir=self.runs_dir, workflows_dir=self.workflows_dir)

    def client(self) -> Client:
        runs_dir = self.settings().runs_dir
        if runs_dir.exists() and not runs_dir.is_dir():
            raise BadInput(f"the runs directory {runs_dir} is a file; pass --runs-dir a directory")
        return Client(runs_dir)

    def workflows(self) -> dict[str, WorkflowVersion]:
        """The versions the workflows directory defines. From here on what user code
        prints goes to stderr, so stdout stays the command's own."""
        streams.divert()
        return load_workflows(self.settings().workflows_dir)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version  # ~5 ms, for this option alone

        print(f"aiki {version('aiki')}", file=streams.stdout())
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_options(
    ctx: typer.Context,
    runs_dir: Annotated[
        str | None,
        typer.Option(metavar="DIR", help="Run store directory [env AIKI_RUNS_DIR; default runs/]"),
    ] = None,
    workflows_dir: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="Workflow modules directory [env AIKI_WORKFLOWS_DIR; default workflows/]",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print aiki's version."
        ),
    ] = False,
) -> None:
    ctx.obj = Options(runs_dir, workflows_dir)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
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


@app.command()
def start(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="NAME@VERSION", help="The workflow version to run.")
    ],
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", metavar="FILE", help="JSON input file, or - for stdin."),
    ] = None,
    input_json: Annotated[
        str | None, typer.Option(metavar="JSON", help="JSON input as text.")
    ] = None,
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
    data = _read_input(input, input_json)
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
    info = asyncio.run(_await_run(client, versions, ref, spec.id, timeout))
    _finish(info, as_json, all_tasks=all_tasks)


def split_ref_or_fail(ref: str) -> tuple[str, str]:
    try:
        return split_ref(ref)
    except ValueError as error:
        raise BadInput(str(error)) from None


async def _await_run(
    client: Client,
    versions: dict[str, WorkflowVersion],
    ref: str,
    run_id: str,
    timeout: float | None,
) -> RunInfo:
    """Wait for a live worker that loads `ref` to finish the run, or execute it here when
    none does (a worker that does not load it would never take it). When `versions` lacks
    `ref` (the worker seen a moment ago has gone), wait for the next worker, not for ever."""
    serving = client.serving(ref)
    if serving or ref not in versions:
        views.note(
            f"a worker is running; waiting for run {run_id}"
            if serving
            else f"no running worker loads {ref}; waiting for one to execute run {run_id}"
        )
        return await client.wait(run_id, timeout=timeout, unattended=_unattended(timeout))
    if client.workers_alive():
        views.note(f"no running worker loads {ref}; executing run {run_id} here")
    return await _drive(client, Worker(client, versions.values()), run_id, timeout)


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


def _unattended(timeout: float | None) -> float | None:
    """How long a wait without `--timeout` goes on with no worker for the run: not for ever."""
    return NO_WORKER_GRACE if timeout is None else None


def _finish(info: RunInfo, as_json: bool, *, all_tasks: bool = False) -> None:
    """Show how the run ended and exit with its code: 0 completed, 1 failed, 3 cancelled."""
    if as_json:
        views.print_json(info.document())
    elif info.status == RunStatus.COMPLETED:
        views.err().print(views.run_panel(info, all_tasks=all_tasks))
    _exit_by_outcome(info)


def _exit_by_outcome(info: RunInfo) -> None:
    """Raise the error of an ended run's outcome: nothing when it completed, RunFailed
    (exit 1) when it failed, RunCancelled (exit 3) when it was cancelled."""
    if info.status == RunStatus.FAILED:
        error = info.error
        raise RunFailed(info.id, error.type if error else "Error", error.message if error else "")
    if info.status == RunStatus.CANCELLED:
        raise RunCancelled(info.id)


def _read_input(
    path: str | None, text: str | None, flags: tuple[str, str] = ("--input", "--input-json")
) -> Any:
    """JSON from a file (`-` for stdin) or from text: the values of the two `flags`."""
    if path is not None and text is not None:
        raise BadInput(f"give {flags[0]} or {flags[1]}, not both")
    if text is not None:
        return _parse_json(text, flags[1])
    if path is None:
        return None
    if path == "-":
        return _parse_json(sys.stdin.read(), "standard input")
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"input file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise BadInput(f"input file {path} cannot be read: {reason}") from None
    return _parse_json(raw, path)


def _parse_json(text: str, source: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not valid JSON")

    def finite(number: str) -> float:
        value = float(number)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"{number} is too large for a JSON number")
        return value

    try:
        return json.loads(text, parse_constant=refuse, parse_float=finite)
    except json.JSONDecodeError as error:
        raise InvalidJSON(
            source, f"{error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except (ValueError, RecursionError) as error:
        raise InvalidJSON(source, str(error) or "too deeply nested") from None


@app.command()
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
        _exit_by_outcome(info)


@app.command()
def cancel(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Cancel a run; a run being executed stops at its next task boundary."""
    info = asyncio.run(ctx.obj.client().cancel(run_id))
    if as_json:
        views.print_json(info.document())
    elif info.cancel_requested:
        views.note(f"cancel of run {run_id} requested; its worker stops it at the next task")
    else:
        views.note(f"run {run_id} is cancelled")


@app.command()
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
    payload = _read_input(data, data_json, ("--data", "--data-json"))
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


@app.command()
def pause(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Pause a run: it is not executed until resumed (a running one pauses at its next task)."""
    if info := _control(ctx, "pause", run_id, as_json):
        if info.status == RunStatus.PAUSED:
            views.note(f"run {info.id} is paused; `aiki resume {info.id}` continues it")
        else:
            views.note(f"pause of run {info.id} requested; its worker pauses it at the next task")


@app.command()
def resume(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """Resume a paused run where it was."""
    if info := _control(ctx, "resume", run_id, as_json):
        views.note(f"run {info.id} is {info.status} again")


@app.command()
def wake(ctx: typer.Context, run_id: RunId, as_json: JsonFlag = False) -> None:
    """End a sleeping run's sleep now."""
    if info := _control(ctx, "wake", run_id, as_json):
        views.note(f"run {info.id} wakes as soon as a worker takes it")


@app.command()
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
    _finish(asyncio.run(_await_run(client, versions, ref, run_id, timeout)), as_json)


@app.command("list")
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


@app.command()
def wait(
    ctx: typer.Context, run_id: RunId, timeout: Timeout = None, as_json: JsonFlag = False
) -> None:
    """Wait for a run to end; exit 0 completed, 1 failed, 3 cancelled, 5 timed out. Without
    --timeout, gives up (exit 5) once no worker for the run has been running for 60s."""
    client: Client = ctx.obj.client()
    info = asyncio.run(client.get(run_id))  # an unknown run fails now, not after the timeout
    ref = f"{info.workflow}@{info.version}"
    if not info.status.terminal and not client.serving(ref):
        _say_no_worker(ref, timeout)
    unattended = _unattended(timeout)
    _finish(asyncio.run(client.wait(run_id, timeout=timeout, unattended=unattended)), as_json)


def _say_no_worker(ref: str, timeout: float | None) -> None:
    """Say up front that nothing executes the run, and when `wait` gives up."""
    if timeout is None:
        limit = f"if none starts within {NO_WORKER_GRACE:g}s"
    else:
        limit = f"after {timeout:g}s"
    views.note(
        f"no worker that loads {ref} is running (`aiki worker` executes the run); "
        f"giving up (exit 5) {limit}"
    )


@app.command()
def history(
    ctx: typer.Context,
    run_id: RunId,
    as_json: JsonFlag = False,
    all_entries: Annotated[
        bool,
        typer.Option("--all", help=f"Show every entry, not the last {views.LAST_ENTRIES}."),
    ] = False,
) -> None:
    """Show a run's journal as a timeline (its last entries; --all for every one)."""
    client: Client = ctx.obj.client()
    info = asyncio.run(client.get(run_id))
    entries = asyncio.run(client.history(run_id))
    if as_json:
        views.print_json([json.loads(dump_entry(entry)) for entry in entries])
    else:
        views.out().print(views.timeline(entries, info.created_at, all_entries=all_entries))


@app.command()
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


@app.command()
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


app.command()(doctor.doctor)


def main() -> None:
    """The `aiki` console script."""
    # What is loaded by now lives until the process exits: leave it out of the garbage
    # collector's passes, which would otherwise walk it again, three times over at exit
    # (~0.1 s of a short command such as `aiki status`).
    gc.freeze()
    # A busy worker makes and frees tens of objects a run; a pass every 700 more objects
    # made than freed (the default) walks its runs in flight again and again. A run holds
    # no reference cycle, so rarer passes leave nothing lying about for long.
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    narrowed(app, sys.argv[1:])()


def narrowed(full: typer.Typer, args: Sequence[str]) -> typer.Typer:
    """`full` holding only the command `args` name. Typer builds every command an app
    holds before it parses (~10 ms), though a process runs one; `aiki --help`, or a
    mistyped command that click suggests a name for, gets them all."""
    name = _command_name(args)
    commands = [c for c in full.registered_commands if _name(c) == name]
    groups = [g for g in full.registered_groups if g.name == name]
    if not commands and not groups:
        return full
    one = copy.copy(full)
    one.registered_commands, one.registered_groups = commands, groups
    return one


def _command_name(args: Sequence[str]) -> str | None:
    """The first word of `args` that is neither a global option nor its value."""
    try:
        rest = _split_globals(args)[1]
    except BadInput:  # a global option without its value: the full app reports it
        return None
    return rest[0] if rest else None


def _name(command: typer.models.CommandInfo) -> str | None:
    if command.name is not None or command.callback is None:
        return command.name
    return typer.main.get_command_name(command.callback.__name__)
