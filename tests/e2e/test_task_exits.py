"""`sys.exit()` in a task fails the task, through the real `aiki` (issue 16.2).

It used to end the process executing the run: `start --wait` reported success (exit 0)
while the run was pending, and `aiki worker` exited with the task's code, the run to be
executed again by every restart with no recovery counted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from .support import Invoke, assert_one_error

FLOW = """
import sys

from aiki_cli import Run, task, workflow


@task(name="exits")
def exits(input: dict) -> None:
    with open(input["log"], "a") as log:
        log.write("executed\\n")
    sys.exit(input["code"])


@workflow(name="e2e-exits").v("1.0.0")
async def exits_v1(input: dict, run: Run) -> None:
    await exits.start(run, input)
"""


@pytest.fixture(autouse=True)
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workflows directory of its own: `e2e-exits@1.0.0`, and the usual e2e workflows."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "exits_flow.py").write_text(FLOW)
    for module in Path(__file__).with_name("workflows").glob("*.py"):
        (folder / module.name).write_text(module.read_text())
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(folder))


def exits_input(tmp_path: Path, code: int) -> str:
    return json.dumps({"log": str(tmp_path / "executions"), "code": code})


def executions(tmp_path: Path) -> int:
    return (tmp_path / "executions").read_text().count("executed")


def test_sys_exit_0_in_a_task_fails_start_wait(aiki: Invoke, tmp_path: Path) -> None:
    outcome = aiki("start", "e2e-exits@1.0.0", "--input-json", exits_input(tmp_path, 0), "--wait")

    run_id = outcome.run_id()  # stdout: the run id alone
    assert_one_error(
        replace(outcome, stdout=""),
        1,
        f"run {run_id} failed: TaskFailed: task 'exits' failed: SystemExit: 0",
    )
    status = aiki("status", run_id, "--json").json()
    assert (status["status"], status["recoveries"]) == ("failed", 0)
    assert executions(tmp_path) == 1


@pytest.mark.slow
def test_sys_exit_in_a_task_fails_the_run_and_the_worker_goes_on(
    aiki: Invoke, tmp_path: Path
) -> None:
    run_id = aiki("start", "e2e-exits@1.0.0", "--input-json", exits_input(tmp_path, 3)).run_id()
    second = aiki("start", "e2e-echo@1.0.0").run_id()

    worker = aiki("worker", "--until-idle", "--concurrency", "1")

    assert worker.code == 0, worker
    failed = aiki("status", run_id, "--json").json()
    assert (failed["status"], failed["recoveries"]) == ("failed", 0)
    assert failed["error"]["message"] == "task 'exits' failed: SystemExit: 3"
    assert aiki("status", second, "--json").json()["status"] == "completed"
    assert executions(tmp_path) == 1
