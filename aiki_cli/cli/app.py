"""The `aiki` application (SPEC §6): the typer app holding every command, and
`AikiGroup.main`, which runs the command through `running.finish`, where errors become
exit codes. The commands live by area in `runs`, `workers`, `schedules`, `doctor`, `gc`
and `transfer`; none of them imports this module."""

import copy
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import BadInput
from . import db, doctor, fork, replay, runs, schedules, streams, transfer, ui, workers
from . import gc as gc_commands  # not to shadow the garbage collector's module
from .options import Options, hoist_globals, split_globals
from .params import AikiTyper
from .running import collector, finish


class AikiGroup(TyperGroup):
    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        """Run a command (`running.finish`: its errors become one line and an exit code)."""
        extra["standalone_mode"] = False
        command = super().main
        argv = sys.argv[1:] if args is None else args
        finish(lambda: command(hoist_globals(argv), *rest, **extra), _usage_message)


def _usage_message(error: Exception) -> str | None:
    """The message of typer's (or click's) parameter and usage errors, whichever copy of
    click raised them; None for any other error."""
    if callable(getattr(error, "format_message", None)) and hasattr(error, "exit_code"):
        return str(error.format_message())  # type: ignore[attr-defined]
    return None


app = AikiTyper(
    cls=AikiGroup,
    help="Durable workflows for Python, stored in plain files.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(schedules.app, name="schedule")
app.add_typer(db.app, name="db")


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version  # an import for this option alone

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
    store: Annotated[
        str | None,
        typer.Option(
            metavar="LOCATION",
            help="Run store: a directory or a postgresql:// URL [env AIKI_STORE; default runs/]",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print aiki's version."
        ),
    ] = False,
) -> None:
    ctx.obj = Options(runs_dir, workflows_dir, store)
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _register(*areas: Any) -> None:
    """Add each area's `COMMANDS` to the app, by name, in order."""
    for area in areas:
        for name, command in area.COMMANDS.items():
            app.command(name)(command)


_register(runs, workers, doctor, ui, gc_commands, transfer, replay, fork)


def main() -> None:
    """The `aiki` console script."""
    with collector():
        narrowed(app, sys.argv[1:])()


def narrowed(full: typer.Typer, args: Sequence[str]) -> typer.Typer:
    """`full` holding only the command `args` name. Typer builds every command an app
    holds before it parses, which costs time, though a process runs one; `aiki --help`, or a
    mistyped command that click suggests a name for, gets them all."""
    name = _command_name(args)
    commands = [c for c in full.registered_commands if c.name == name]
    groups = [g for g in full.registered_groups if g.name == name]
    if not commands and not groups:
        return full
    one = copy.copy(full)
    one.registered_commands, one.registered_groups = commands, groups
    return one


def _command_name(args: Sequence[str]) -> str | None:
    """The first word of `args` that is neither a global option nor its value."""
    try:
        rest = split_globals(args)[1]
    except BadInput:  # a global option without its value: the full app reports it
        return None
    return rest[0] if rest else None
