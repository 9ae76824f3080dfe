"""Output hygiene: no escape codes off a terminal or with NO_COLOR, tables that fit the width,
and a width setting that cannot break the error line."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping

import pytest

from .support import (
    AIKI,
    ANSI,
    SUBPROCESS_TIMEOUT,
    WIDTH,
    Invoke,
    assert_one_error,
    finished,
)


def assert_plain(*texts: str) -> None:
    for text in texts:
        assert not ANSI.search(text), repr(text)


def test_no_escape_codes_when_stdout_is_not_a_terminal(aiki: Invoke, cli: Invoke) -> None:
    """What is styled on a terminal (status colours, the panel, the timeline) is plain here.

    The `aiki` fixture checks every real-executable call of the tier the same way.
    """
    completed = aiki("start", "e2e-echo@1.0.0", "--wait")  # its panel goes to stderr
    failed = aiki("history", finished(cli, "e2e-boom@1.0.0"))

    assert "completed" in completed.stderr and "running → failed" in failed.stdout
    assert_plain(completed.stdout, completed.stderr, failed.stdout, failed.stderr)


def test_no_escape_codes_with_no_color(aiki: Invoke, cli: Invoke) -> None:
    finished(cli, "e2e-boom@1.0.0")

    listed = aiki("list", env={"NO_COLOR": "1"})

    assert listed.code == 0 and "failed" in listed.stdout
    assert_plain(listed.stdout, listed.stderr)


def on_terminal(*args: str, env: Mapping[str, str] | None = None) -> str:
    """What `aiki` writes to a terminal (a pty as its stdout and stderr), 120 columns wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [*AIKI, *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **(env or {})},
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=SUBPROCESS_TIMEOUT)
        os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_a_terminal_gets_colour_unless_no_color_is_set(cli: Invoke) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")

    coloured = on_terminal("status", run_id)
    plain = on_terminal("status", run_id, env={"NO_COLOR": "1"})

    assert ANSI.search(coloured), coloured  # proves the check below can see escape codes
    assert run_id in plain and "completed" in plain
    assert_plain(plain)


@pytest.mark.parametrize("columns", ["", "abc", "0", "-3", "7"])
def test_any_columns_setting_keeps_the_one_error_line(cli: Invoke, columns: str) -> None:
    outcome = cli("status", "../x", env={"COLUMNS": columns})

    assert_one_error(outcome, 2, "not a run id", "as printed by `aiki start`")


@pytest.mark.parametrize("command", ["status", "history", "list"])
def test_tables_fit_the_width_even_with_long_values(cli: Invoke, command: str) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0", "--input-json", f'{{"word": "{"w" * 500}"}}')

    outcome = cli(command, *([] if command == "list" else [run_id]))

    assert outcome.code == 0, outcome
    lines = outcome.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= WIDTH, outcome.stdout
    assert run_id in outcome.stdout or command == "history"


def test_json_is_never_wrapped_at_the_width(cli: Invoke) -> None:
    word = "w" * 500
    run_id = finished(cli, "e2e-echo@1.0.0", "--input-json", f'{{"word": "{word}"}}')

    for args in (["status", run_id], ["history", run_id], ["list"], ["workflows"]):
        outcome = cli(*args, "--json", env={"COLUMNS": "40"})
        assert outcome.code == 0, outcome
        assert outcome.json() is not None
    assert cli("status", run_id, "--json").json()["input"] == {"word": word}


def test_help_lists_every_command(cli: Invoke) -> None:
    outcome = cli("--help")

    assert outcome.code == 0
    for command in ("start", "status", "cancel", "list", "wait", "history", "workflows", "worker"):
        assert f"  {command} " in outcome.stdout, command
