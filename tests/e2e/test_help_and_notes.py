"""Small things a new user meets (issue 15.10): help that names values as they are typed,
`--version`, times that say their zone, and a `list` that says when it left runs out."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from .support import Invoke, start

COMMANDS = [
    [],
    ["start"],
    ["status"],
    ["cancel"],
    ["send"],
    ["pause"],
    ["resume"],
    ["wake"],
    ["retry"],
    ["list"],
    ["wait"],
    ["history"],
    ["workflows"],
    ["worker"],
    ["doctor"],
    ["schedule"],
    ["schedule", "add"],
    ["schedule", "list"],
    ["schedule", "pause"],
    ["schedule", "resume"],
    ["schedule", "remove"],
]
# What typer writes where a metavar belongs: `{run_id}`, `run_id <str>`, `<float range>`, `[x>=0]`.
TYPER_PLACEHOLDERS = re.compile(r"\{\w+\}|<\w+( range)?>|\bx[<>]=")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "aiki")
def test_help_names_values_by_their_metavars(cli: Invoke, command: list[str]) -> None:
    outcome = cli(*command, "--help")

    assert outcome.code == 0, outcome
    assert not TYPER_PLACEHOLDERS.search(outcome.stdout), outcome.stdout


def test_help_of_a_command_with_an_argument_and_a_ranged_option(aiki: Invoke) -> None:
    lines = [line.split() for line in aiki("wait", "--help").stdout.splitlines()]

    assert ["Usage:", "aiki", "wait", "[OPTIONS]", "RUN_ID"] in lines
    assert ["RUN_ID", "The", "run", "id,", "as", "printed", "by", "`aiki", "start`."] in lines
    assert [
        "--timeout",
        "SECONDS",
        "Give",
        "up",
        "after",
        "this",
        "many",
        "seconds",
        "(exit",
        "5).",
    ] in lines


def test_a_missing_argument_is_named_by_its_metavar(aiki: Invoke) -> None:
    outcome = aiki("status")

    assert outcome.code == 2 and outcome.stderr == "error: Missing argument 'RUN_ID'.\n", outcome


def test_version_prints_the_installed_version_on_stdout(aiki: Invoke) -> None:
    outcome = aiki("--version")

    assert (outcome.code, outcome.stdout, outcome.stderr) == (0, f"aiki {version('aiki')}\n", "")


def test_times_carry_their_offset_from_utc(aiki: Invoke, cli: Invoke) -> None:
    """India has one offset all year, so the expected text holds on any date."""
    run_id = start(cli, "e2e-echo@1.0.0")
    india = {"TZ": "Asia/Kolkata"}

    panel = aiki("status", run_id, env=india).stdout
    table = aiki("list", env={**india, "COLUMNS": "200"}).stdout

    (created,) = [line for line in panel.splitlines() if "created" in line]
    assert re.search(r"created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+05:30", created), panel
    assert re.search(r"\d\d:\d\d:\d\d\+05:30", table), table


def test_a_cron_schedule_shows_its_next_time_in_its_own_zone(aiki: Invoke) -> None:
    """A 09:00 Europe/Paris schedule says 09:00 with Paris's offset, on a machine in UTC."""
    added = aiki(
        "schedule",
        "add",
        "e2e-echo@1.0.0",
        "--cron",
        "0 9 * * *",
        "--tz",
        "Europe/Paris",
        env={"TZ": "UTC"},
    )
    listed = aiki("schedule", "list", env={"TZ": "UTC", "COLUMNS": "200"})

    paris_nine = re.compile(r"\d{4}-\d\d-\d\d 09:00:00\+0[12]:00")  # winter or summer time
    assert added.code == 0 and paris_nine.search(added.stderr), added
    assert listed.code == 0 and paris_nine.search(listed.stdout), listed


def test_list_says_on_stderr_that_more_runs_exist_beyond_its_limit(
    aiki: Invoke, cli: Invoke
) -> None:
    runs = [start(cli, "e2e-echo@1.0.0") for _ in range(3)]

    cut = aiki("list", "--limit", "2")
    whole = aiki("list", "--limit", "3")
    as_json = aiki("list", "--limit", "2", "--json")

    assert cut.code == 0 and runs[0] not in cut.stdout and runs[2] in cut.stdout, cut
    assert cut.stderr == "… more runs than these 2; `--limit N` lists up to N\n", cut
    assert whole.code == 0 and whole.stderr == "" and runs[0] in whole.stdout, whole
    assert [row["id"] for row in as_json.json()] == runs[:0:-1] and as_json.stderr == ""
