"""The `aiki` console script's front door: the reading commands scripts poll, answered
without the typer app, pydantic or rich, whose imports alone cost several times Python's
own start-up (benchmarks/README.md §7); and the worker scripts start, started without
the typer app (~10% of a worker's start-up: benchmarks/README.md §9).

It serves exactly `aiki --help` (`-h`) on a terminal or COLUMNS at least 80 wide,
with nothing but global options before it (which click's help ignores),
`aiki status ID --json`, `aiki status ID [--all]` off a terminal when its panel can be
drawn exactly without rich (`panel.py`), and
`aiki list --json [--limit N] [--status S] [--workflow W]`,
with the global options, on a directory store, and only when everything it reads is as
it expects. It starts `aiki worker [--until-idle] [--concurrency N]`, with the global
options, on any store, through the command's own code (`serve.py`, `running.py`).
Anything else, or any doubt (another option, a database URL, a missing or damaged run, a
bad value), goes to the app with the arguments untouched: its errors, exit codes and
output stay the only ones (`tests/e2e/test_front_door.py` compares the two byte for
byte).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

HELP_WIDTH = 80  # click's help is the same at this width and any wider one
# What makes rich draw as on a terminal (colours, its width) though stdout is not one.
_RICH_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


class HandOver(Exception):
    """The front door does not serve these arguments: the app does."""


def main() -> None:
    """The `aiki` console script."""
    args = sys.argv[1:]
    try:
        given, settings = worker(args)
    except HandOver:
        pass
    else:
        _serve(given, settings)
    try:
        text = answer(args)
    except HandOver:
        app_main()()
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:  # a closed pipe, say: the app's own failure, then its exit
        app_main()()
    sys.exit(0)


def app_main() -> Callable[[], None]:
    """The app's `main`. What importing it makes (typer, pydantic, aiki's models) lives
    as long as the process: no collection runs meanwhile, which would walk it again and
    again (~5% of the import's CPU)."""
    from .. import gc_pause

    with gc_pause.uncollected():
        from .app import main
    return main


def worker(args: Sequence[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """The global options, and `serve`'s, of `aiki worker [--until-idle]
    [--concurrency N]`; `HandOver` for anything else."""
    front, rest = _split(args)
    if not rest or rest[0] != "worker":
        raise HandOver
    given = _globals(front)
    options, positional = _options(rest[1:], {"--until-idle"}, {"--concurrency"})
    concurrency = options.get("--concurrency", "10")
    if positional or not _whole(concurrency):
        raise HandOver
    return given, {"concurrency": int(concurrency), "until_idle": "--until-idle" in options}


def _serve(given: dict[str, str], settings: dict[str, Any]) -> NoReturn:
    """Run the worker as the app runs it: the same code, errors and exit codes."""
    from .options import Options
    from .running import collector, finish
    from .serve import serve

    options = Options(given.get("--runs-dir"), given.get("--workflows-dir"), given.get("--store"))

    def command() -> None:
        try:
            serve(options, **settings)
        finally:
            options.close()

    with collector():
        finish(command)


def answer(args: Sequence[str]) -> str:
    """What the app would print on stdout for `args`, exiting 0; `HandOver` otherwise."""
    front, rest = _split(args)
    given = _globals(front)
    if rest in (["--help"], ["-h"]) and _as_aiki() and _help_columns() >= HELP_WIDTH:
        from .helptext import HELP

        return HELP
    if not rest or rest[0] not in ("status", "list"):
        raise HandOver
    location = _store(given)
    if rest[0] == "status":
        return _status(location, rest[1:])
    return _printed(_list(location, rest[1:]))


def _split(args: Sequence[str]) -> tuple[list[str], list[str]]:
    from ..errors import AikiError
    from .argv import split_globals

    try:
        return split_globals(args)
    except AikiError:
        raise HandOver from None


def _globals(front: list[str]) -> dict[str, str]:
    """`--store`, `--runs-dir`, `--workflows-dir`, each given once at most."""
    given: dict[str, str] = {}
    tokens = iter(front)
    for token in tokens:
        name, equals, value = token.partition("=")
        if not equals:
            value = next(tokens)
        if name in given:
            raise HandOver
        given[name] = value
    return given


def _store(given: dict[str, str]) -> str:
    """The store's location, resolved as the app resolves it; `HandOver` for a setting
    the app would refuse."""
    from .. import config
    from ..errors import AikiError

    try:
        return config.resolve(
            runs_dir=given.get("--runs-dir"),
            workflows_dir=given.get("--workflows-dir"),
            store=given.get("--store"),
        ).store
    except AikiError:
        raise HandOver from None


def _options(
    args: Sequence[str], flags: set[str], valued: set[str]
) -> tuple[dict[str, Any], list[str]]:
    """The options in `args` (each once at most), and the other tokens."""
    found: dict[str, Any] = {}
    others: list[str] = []
    tokens = iter(args)
    for token in tokens:
        name, equals, value = token.partition("=")
        if token in flags and token not in found:
            found[token] = True
        elif name in valued and name not in found:
            found[name] = value if equals else next(tokens, None)
            if found[name] is None:
                raise HandOver
        elif token.startswith("-") or token in found:
            raise HandOver
        else:
            others.append(token)
    return found, others


def _status(location: str, args: Sequence[str]) -> str:
    from ..errors import AikiError
    from ..store.light import Unsure, run_document
    from ..values.ids import check_run_id

    options, positional = _options(args, {"--json", "--all"}, set())
    if len(positional) != 1 or ("--json" in options and "--all" in options):
        raise HandOver
    try:
        document = run_document(location, check_run_id(positional[0]))
        if "--json" in options:
            return _printed(document)
        return _checked(_drawn(document, "--all" in options))
    except (AikiError, Unsure):
        raise HandOver from None


def _drawn(document: Any, all_tasks: bool) -> str:
    """The run's panel off a terminal, as the app draws it there (`cli/panel.py`)."""
    from .panel import panel
    from .width import width_off_terminal

    stream = sys.stdout
    if stream is None or stream.isatty() or any(name in os.environ for name in _RICH_ENV):
        raise HandOver  # colours, a terminal's width: rich's own
    return panel(document, width_off_terminal(), all_tasks=all_tasks)


def _list(location: str, args: Sequence[str]) -> Any:
    from ..store.light import Unsure, list_documents

    options, positional = _options(args, {"--json"}, {"--limit", "--status", "--workflow"})
    limit = options.get("--limit", "20")
    if "--json" not in options or positional or not _whole(limit):
        raise HandOver
    status = options.get("--status")
    if status is not None and status not in _statuses():
        raise HandOver
    name, _, version = options.get("--workflow", "").partition("@")
    try:
        return list_documents(location, status, name or None, version or None, int(limit))
    except Unsure:
        raise HandOver from None


def _whole(text: str) -> bool:
    """A count as `--limit` takes it, written plainly (`5`, never `+5` or `05`)."""
    return text.isascii() and text.isdigit() and not text.startswith("0")


def _statuses() -> set[str]:
    from ..model.status import RunStatus

    return {status.value for status in RunStatus}


def _printed(document: Any) -> str:
    """`views.print_json`'s text, if stdout can take it as the app would write it."""
    return _checked(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _checked(text: str) -> str:
    """`text`, if stdout can take it as the app would write it."""
    stream = sys.stdout
    if stream is None:
        raise HandOver
    try:
        text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    except (UnicodeEncodeError, LookupError):
        raise HandOver from None
    return text


def _as_aiki() -> bool:
    """Whether click calls the program `aiki`, as the help text does (not `python -m …`)."""
    main = sys.modules.get("__main__")
    plain = getattr(main, "__package__", None) in (None, "")
    return plain and os.path.basename(sys.argv[0]) == "aiki"


def _help_columns() -> int:
    """The width click lays its help out for (`shutil.get_terminal_size`, which is slow
    to import): COLUMNS when a positive number, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or HELP_WIDTH  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return HELP_WIDTH
