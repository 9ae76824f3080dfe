"""A worker whose wall clock is set a day ahead, then back (issue 16.12), through the real
executable: its clock is shifted by a file (`AIKI_CLOCK_SHIFT_FILE`), the machine's is not."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aiki_cli.store.files import FileStore
from aiki_cli.values.clock import SHIFT_VARIABLE

from .support import Invoke, wait_for

EXAMPLES = Path(__file__).parents[2] / "workflows"
DAY = 86_400
Spawn = Callable[..., subprocess.Popen[str]]


def test_a_sleep_begun_a_day_ahead_ends_on_time_once_the_workers_clock_is_set_back(
    aiki: Invoke,
    spawn: Spawn,
    runs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(EXAMPLES))
    started = aiki("start", "follow-up@1.0.0", "--input-json", '{"user": "ada", "after": "2s"}')
    assert started.code == 0, started
    run_id = started.stdout.strip()
    shift = tmp_path / "shift"
    shift.write_text(str(DAY))
    monkeypatch.setenv(SHIFT_VARIABLE, str(shift))
    spawn("worker", "--poll-interval", "0.05")
    monkeypatch.delenv(SHIFT_VARIABLE)

    def status() -> str:
        return str(aiki("status", run_id, "--json").json()["status"])

    wait_for(lambda: status() == "sleeping", "the run to sleep, a day ahead")
    shift.write_text("0")  # the worker's clock is set back to the true time

    waited = aiki("wait", run_id, "--timeout", "20")  # a day, without the re-arming
    assert waited.code == 0, waited
    entries = FileStore(runs).read_run(run_id)[1]
    assert [e.type for e in entries].count("task_completed") == 2  # each message once
    first, again = [e for e in entries if e.type == "sleep_started"]
    assert first.until.timestamp() - again.until.timestamp() > DAY - 60
