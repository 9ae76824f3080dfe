"""`aiki status RUN_ID --follow` and `aiki history RUN_ID --follow` (issue 20 item 4), off
a terminal: they end when the run ends, with its exit code, showing what arrived; with
--json, one JSON line per entry. The multi-process tier (a worker killed while a follower
follows) is tests/integration/test_follow_live.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .support import AIKI, Invoke
from .terminal import OnTerminal

FLOWS = Path(__file__).parent / "live_workflows"


@pytest.fixture
def flows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(FLOWS))


def started(aiki: Invoke, tmp_path: Path, **input: Any) -> tuple[str, Path]:
    gate = tmp_path / "gate"
    data = json.dumps({"open": str(gate), "before": 2, "after": 1, **input})
    return aiki("start", "gated@1.0.0", "--input-json", data).run_id(), gate


@pytest.mark.usefixtures("flows")
def test_history_follow_shows_rows_as_a_worker_in_another_process_writes_them(
    aiki: Invoke, spawn: Any, tmp_path: Path
) -> None:
    run_id, gate = started(aiki, tmp_path)
    follower: subprocess.Popen[str] = spawn("history", run_id, "--follow")
    spawn("worker")
    assert follower.stdout is not None
    shown = ""
    while "progress" not in shown:  # the run reached the gate: a row arrived as it did
        line = follower.stdout.readline()
        assert line, (shown, follower.poll())  # the follower ended before the gate
        shown += line
    gate.touch()
    rest, errors = follower.communicate(timeout=30)

    assert follower.returncode == 0, errors
    assert "… progress" in shown and "at the gate (50%)" in shown
    assert "✔ gate" in rest and "through (100%)" in rest and "running → completed" in rest
    assert rest.count("▶ step") == 1  # the step after the gate, shown once
    assert (shown + rest).count("▶ step") == 3


@pytest.mark.usefixtures("flows")
def test_status_follow_ends_with_the_panel_and_the_runs_exit_code(
    aiki: Invoke, tmp_path: Path
) -> None:
    run_id, gate = started(aiki, tmp_path, fail=True)
    gate.touch()
    assert aiki("worker", "--until-idle").code == 0

    followed = aiki("status", run_id, "--follow")

    assert followed.code == 1
    assert f"run {run_id}" in followed.stdout and "failed" in followed.stdout
    assert "progress" in followed.stdout and "through (100%)" in followed.stdout
    assert followed.stderr == f"error: run {run_id} failed: RuntimeError: asked to fail\n"


@pytest.mark.usefixtures("flows")
def test_follow_json_is_one_entry_a_line_ending_with_a_cancelled_runs_code(
    aiki: Invoke, tmp_path: Path, runs: Path
) -> None:
    run_id, _ = started(aiki, tmp_path)
    assert aiki("cancel", run_id).code == 0

    for command in ("status", "history"):
        followed = aiki(command, run_id, "--follow", "--json")
        assert followed.code == 3
        journal = (runs / "run" / run_id / "journal.jsonl").read_text()
        assert followed.stdout == journal
        assert [json.loads(line)["type"] for line in followed.stdout.splitlines()] == ["status"]


def test_following_an_unknown_run_is_exit_4(aiki: Invoke) -> None:
    followed = aiki("status", "01m8xczjmd2vpex8d56ga2xkzp", "--follow", "--json")
    assert followed.code == 4 and followed.stdout == ""
    assert followed.stderr.startswith("error: ") and followed.stderr.count("\n") == 1


@pytest.mark.usefixtures("flows")
def test_ctrl_c_stops_following_and_leaves_the_run_alone(
    aiki: Invoke, spawn: Any, tmp_path: Path, runs: Path
) -> None:
    run_id, gate = started(aiki, tmp_path)
    spawn("worker")
    follower: subprocess.Popen[str] = spawn("history", run_id, "--follow", "--json")
    assert follower.stdout is not None
    assert json.loads(follower.stdout.readline())["type"] == "status"  # it follows
    follower.send_signal(signal.SIGINT)
    rest, errors = follower.communicate(timeout=30)

    assert follower.returncode == 130 and "Traceback" not in errors
    assert all(json.loads(line) for line in rest.splitlines())
    gate.touch()  # the run goes on without its follower
    assert aiki("wait", run_id, "--timeout", "30").code == 0


@pytest.mark.usefixtures("flows")
def test_status_follow_on_a_terminal_redraws_one_panel_as_the_run_goes(
    aiki: Invoke, spawn: Any, tmp_path: Path
) -> None:
    run_id, gate = started(aiki, tmp_path)
    spawn("worker")
    env = {**os.environ, "AIKI_WORKFLOWS_DIR": str(FLOWS)}
    term = OnTerminal([*AIKI, "status", run_id, "--follow"], tmp_path, env, stdout_too=True)
    try:
        screen = term.until(lambda text: "at the gate (50%)" in text)
        assert "running" in screen and "gate" in screen
        gate.touch()
        code, _ = term.finish()
    finally:
        term.kill()

    final = term.screen.text
    assert code == 0
    assert "through (100%)" in final and "completed" in final
    assert final.count(f"run {run_id}") == 1  # one panel, redrawn in place
    assert "at the gate" not in final
