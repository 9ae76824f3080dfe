"""The console script has typer build only the command it runs (`narrowed`): every other
command would cost start-up time and change nothing the user sees."""

from __future__ import annotations

import pytest
import typer.main

from aiki_cli.cli.app import app, narrowed


def _commands(one: typer.Typer) -> list[str]:
    return sorted(typer.main.get_command(one).commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["status", "01abc"], "status"),
        (["--runs-dir", "runs", "worker", "--until-idle"], "worker"),
        (["--runs-dir=runs", "--workflows-dir", "flows", "list", "--json"], "list"),
        (["schedule", "list"], "schedule"),
    ],
)
def test_a_command_line_gets_only_the_command_it_names(args: list[str], command: str) -> None:
    assert _commands(narrowed(app, args)) == [command]


@pytest.mark.parametrize("args", [[], ["--help"], ["-h", "status"], ["stauts"], ["--runs-dir"]])
def test_help_and_unknown_names_get_every_command(args: list[str]) -> None:
    """The top-level help lists them all, and click suggests a name for a typo."""
    assert narrowed(app, args) is app
    assert {"status", "worker", "schedule", "doctor"} <= set(_commands(app))


def test_the_full_app_is_left_as_it_was() -> None:
    before = _commands(app)
    narrowed(app, ["status", "01abc"])
    assert _commands(app) == before
