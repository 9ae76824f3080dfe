"""How the commands' parameters read in `--help` and on the command line.

typer's own help says `aiki status [OPTIONS] {run_id}`, `run_id <str>` and
`--timeout <float range> [x>=0]`; an `AikiTyper`'s commands say `aiki status RUN_ID` and
`--timeout SECONDS`, their metavars. `one_of` reads a choice and refuses anything else
in plain words, where typer would pass on pydantic's "Value error, …".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperOption

from ..errors import BadInput

Choice = TypeVar("Choice", bound=StrEnum)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]
InputFile = Annotated[
    str | None,
    typer.Option("--input", "-i", metavar="FILE", help="JSON input file, or - for stdin."),
]
InputJson = Annotated[str | None, typer.Option(metavar="JSON", help="JSON input as text.")]


class AikiTyper(typer.Typer):
    """A `typer.Typer` whose commands are `AikiCommand`s unless told otherwise."""

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Callable[[Any], Any]:
        return super().command(name, cls=cls or AikiCommand, **options)


class AikiCommand(TyperCommand):
    """A command whose help names values by their metavars: `RUN_ID`, `SECONDS`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_usage(argument) for argument in self._arguments(ctx)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments = [(_metavar(argument), argument.help or "") for argument in self._arguments(ctx)]
        options = [_option_row(option, ctx) for option in self._options(ctx)]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def _arguments(self, ctx: Any) -> list[TyperArgument]:
        params = self.get_params(ctx)
        return [p for p in params if isinstance(p, TyperArgument) and not p.hidden]

    def _options(self, ctx: Any) -> list[TyperOption]:
        return [p for p in self.get_params(ctx) if isinstance(p, TyperOption) and not p.hidden]


def _metavar(argument: TyperArgument) -> str:
    return argument.metavar or (argument.name or "").upper()


def _usage(argument: TyperArgument) -> str:
    name = _metavar(argument) + ("..." if argument.nargs != 1 else "")
    return name if argument.required else f"[{name}]"


def _option_row(option: TyperOption, ctx: Any) -> tuple[str, str]:
    """The option's help line, without typer's `[x>=0]`, which reads as maths: a value out
    of range is refused with a message saying what it must be."""
    shown = copy.copy(option)
    shown.min = shown.max = None  # read by the help only; the value is checked apart
    row = shown.get_help_record(ctx)
    assert row is not None
    return row


def one_of(kind: type[Choice], what: str, text: str) -> Choice:
    """`text` as a member of `kind` (any case); BadInput naming the choices otherwise."""
    try:
        return kind(text.lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise BadInput(f"unknown {what} {text!r}; use one of: {choices}") from None
