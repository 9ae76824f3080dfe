"""Changing a run's code between worker processes (SPEC §3, replay by content address).

A run of `it-deploy@1.0.0` starts on deploy A (X, Y, then a slow Z) and its worker is
killed while Z is in flight. The run then resumes under a later deploy of the same
name@version:

- deploy B calls Y before X with the same inputs: the recorded results are found by
  address, so neither runs again and the run completes;
- deploy C calls a new task W before X: replay stops with a divergence naming the
  recorded results it did not consume, before W executes.
"""

from __future__ import annotations

from typing import Any

import pytest

from .harness import WORKFLOWS, Sandbox

DEPLOY_A = WORKFLOWS / "deploy_a"
DEPLOY_B = WORKFLOWS / "deploy_b"
DEPLOY_C = WORKFLOWS / "deploy_c"


def interrupted_in_z(sandbox: Sandbox, key: str) -> tuple[str, list[dict[str, Any]]]:
    """A run started on deploy A whose worker died while Z executed; its journal then."""
    run_id = sandbox.start("it-deploy@1.0.0", {"key": key}, workflows=DEPLOY_A)
    worker = sandbox.worker(workflows=DEPLOY_A)
    sandbox.wait_for_task(run_id, key, "z", alive=worker)
    worker.kill9()
    journal = sandbox.journal(run_id)
    completed = [entry["task"] for entry in journal if entry["type"] == "task_completed"]
    assert completed == ["x", "y"]
    sandbox.go()
    return run_id, journal


@pytest.mark.slow
def test_reordered_tasks_replay_from_their_recorded_results(sandbox: Sandbox) -> None:
    run_id, _ = interrupted_in_z(sandbox, "reordered")

    worker = sandbox.worker("--until-idle", workflows=DEPLOY_B)
    assert worker.wait() == 0, worker.output()

    status = sandbox.status(run_id)
    assert status["status"] == "completed", status
    assert status["result"] == ["y", "x", "z"], "deploy B's code produced the result"
    assert status["recoveries"] == 1
    counts = sandbox.counts()
    assert {task: counts["reordered", task] for task in "xyz"} == {"x": 1, "y": 1, "z": 2}


@pytest.mark.slow
def test_an_inserted_task_is_a_divergence_and_never_runs(sandbox: Sandbox) -> None:
    run_id, before = interrupted_in_z(sandbox, "inserted")

    worker = sandbox.worker("--until-idle", workflows=DEPLOY_C)
    assert worker.wait() == 0, worker.output()

    status = sandbox.status(run_id)
    assert status["status"] == "failed", status
    error = status["error"]
    assert error["type"] == "DivergenceError"
    message = error["message"]
    assert "'w'" in message, message
    assert "x#" in message and "y#" in message, "names the unconsumed recorded results"
    assert "z#" not in message, "z has no recorded result to consume"
    counts = sandbox.counts()
    assert {task: counts["inserted", task] for task in "wxyz"} == {"w": 0, "x": 1, "y": 1, "z": 1}
    after = sandbox.journal(run_id)
    assert after[: len(before)] == before
    assert not any(entry.get("task") == "w" for entry in after), "w was never journaled"
