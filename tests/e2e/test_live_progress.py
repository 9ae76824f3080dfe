"""The live progress line (issue 19): on a terminal, `start --wait`, `wait` and `worker`
show each run's id, tasks done, the task executing, what it waits for, its progress and
the time elapsed, on stderr; it is gone when the run ends. Never on stdout, never when
stderr is piped, never with --json; in CI one plain line per status change instead.

The commands run with stderr on a pseudo-terminal; the tests read the screen a user
would see (`terminal.Screen`), not the escape codes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import AIKI, Invoke
from .terminal import OnTerminal

FLOWS = Path(__file__).parent / "live_workflows"
LIVE = re.compile(r"run (\S{26}) · running · (\d+) tasks done · now gate · .*at the gate \(50%\)")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if key != "CI"}
    return {**clean, "AIKI_WORKFLOWS_DIR": str(FLOWS)}


@pytest.fixture
def terminals(tmp_path: Path, env: dict[str, str]) -> Iterator[list[OnTerminal]]:
    started: list[OnTerminal] = []
    yield started
    for terminal in started:
        terminal.kill()


def on_terminal(
    terminals: list[OnTerminal], cwd: Path, env: dict[str, str], *args: str
) -> OnTerminal:
    terminal = OnTerminal([*AIKI, *args], cwd, env)
    terminals.append(terminal)
    return terminal


def gated(gate: Path, **more: object) -> str:
    return json.dumps({"open": str(gate), "before": 3, "after": 2, **more})


def test_start_wait_shows_the_run_live_then_only_its_summary(
    tmp_path: Path, env: dict[str, str], terminals: list[OnTerminal]
) -> None:
    gate = tmp_path / "gate"
    term = on_terminal(
        terminals, tmp_path, env, "start", "gated@1.0.0", "--input-json", gated(gate), "--wait"
    )

    screen = term.until(lambda text: LIVE.search(text) is not None)
    match = LIVE.search(screen)
    assert match is not None and match.group(2) == "3"
    assert re.search(r"\d+\.\ds$", screen.splitlines()[-1])  # the time elapsed ends it
    gate.touch()
    code, stdout = term.finish()

    assert code == 0
    assert stdout == f"{match.group(1)}\n"  # stdout: the run id alone
    final = term.screen.text
    assert "tasks done" not in final  # the live line is gone
    assert "completed" in final and f"run {match.group(1)}" in final  # the summary panel


def test_wait_shows_the_line_and_ends_with_the_run(
    tmp_path: Path, env: dict[str, str], terminals: list[OnTerminal], aiki: Invoke
) -> None:
    gate = tmp_path / "gate"
    run_id = aiki("start", "gated@1.0.0", "--input-json", gated(gate), env=env).run_id()
    worker = on_terminal(terminals, tmp_path, env, "worker")
    waiting = on_terminal(terminals, tmp_path, env, "wait", run_id)

    for term in (waiting, worker):  # the worker shows the runs it executes, too
        screen = term.until(lambda text: LIVE.search(text) is not None)
        assert f"run {run_id} · running · 3 tasks done · now gate" in screen
    gate.touch()
    code, stdout = waiting.finish()

    assert (code, stdout) == (0, "")
    assert "tasks done" not in waiting.screen.text


def test_piped_with_json_or_in_ci_there_is_no_live_line(
    tmp_path: Path, env: dict[str, str], terminals: list[OnTerminal], aiki: Invoke
) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    piped = aiki("start", "gated@1.0.0", "--input-json", gated(gate), "--wait", env=env)
    assert piped.code == 0 and "tasks done" not in piped.stderr

    as_json = on_terminal(
        terminals,
        tmp_path,
        env,
        "start",
        "gated@1.0.0",
        "--input-json",
        gated(gate),
        "--wait",
        "--json",
    )
    code, stdout = as_json.finish()
    assert code == 0 and json.loads(stdout)["status"] == "completed"
    assert as_json.screen.text == ""

    in_ci = on_terminal(
        terminals,
        tmp_path,
        {**env, "CI": "true"},
        "start",
        "gated@1.0.0",
        "--input-json",
        gated(gate),
        "--wait",
    )
    code, stdout = in_ci.finish()
    run_id = stdout.strip()
    assert code == 0
    said = [line for line in in_ci.screen.text.splitlines() if line.startswith(f"run {run_id}:")]
    assert said[-1] == f"run {run_id}: completed"
    assert len(said) == len(set(said))  # one line per state change, none repeated
    assert "tasks done" not in in_ci.screen.text
