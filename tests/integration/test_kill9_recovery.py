"""`kill -9` of a worker in the middle of a task loses nothing (SPEC §0, §4, §5).

The worker is killed while `slow-step` (the third of four tasks) executes; a second
worker takes the run over: tasks completed before the kill are not executed again,
the interrupted one is (at-least-once), and the journal records the takeover.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiki_cli import Client
from aiki_cli.authoring.loader import load_workflows

from .harness import WORKFLOWS, Sandbox, wait_until

STEPS = ["step-one", "step-two", "slow-step", "step-four"]
RESULT = {"one": 1, "two": 2, "slow": 3, "four": 4}


def completed_tasks(journal: list[dict[str, Any]]) -> set[str]:
    return {entry["task"] for entry in journal if entry["type"] == "task_completed"}


@pytest.mark.slow
def test_a_killed_worker_s_run_finishes_without_repeating_completed_tasks(
    sandbox: Sandbox,
) -> None:
    run_id = sandbox.start("it-steps@1.0.0", {"key": "solo"})
    first = sandbox.worker("--concurrency", "1")
    sandbox.wait_for_task(run_id, "solo", "slow-step", alive=first)

    first.kill9()
    before = sandbox.journal(run_id)
    assert completed_tasks(before) == {"step-one", "step-two"}

    sandbox.go()
    second = sandbox.worker("--until-idle")
    assert second.wait() == 0, second.output()

    status = sandbox.status(run_id)
    assert status["status"] == "completed", status
    assert status["result"] == {"key": "solo", **RESULT}
    assert status["recoveries"] == 1
    counts = sandbox.counts()
    assert {task: counts["solo", task] for task in STEPS} == {
        "step-one": 1,
        "step-two": 1,
        "slow-step": 2,  # its first execution died with the worker
        "step-four": 1,
    }
    after = sandbox.journal(run_id)
    assert after[: len(before)] == before, "the journal is only ever appended to"
    recovered = [entry for entry in after[len(before) :] if entry["type"] == "recovered"]
    assert [entry["count"] for entry in recovered] == [1]


@pytest.mark.slow
def test_every_run_in_flight_is_recovered_and_queued_runs_are_untouched(
    sandbox: Sandbox,
) -> None:
    version = load_workflows(WORKFLOWS)["it-steps@1.0.0"]
    client = Client(sandbox.runs)
    keys = {client.create(version, {"key": f"many-{n}"}).id: f"many-{n}" for n in range(6)}
    first = sandbox.worker("--concurrency", "4")

    def four_in_slow_step() -> bool:
        journals = [sandbox.journal(run_id) for run_id in keys]
        started = [j for j in journals if any(e.get("task") == "slow-step" for e in j)]
        return len(started) == 4 and sum(sandbox.counts().values()) == 4 * 3

    wait_until(four_in_slow_step, "four runs in slow-step", alive=first)
    first.kill9()
    in_flight = {run_id for run_id in keys if sandbox.journal(run_id)}
    assert len(in_flight) == 4, "the other two runs were never claimed"
    before = {run_id: completed_tasks(sandbox.journal(run_id)) for run_id in in_flight}

    sandbox.go()
    second = sandbox.worker("--until-idle", "--concurrency", "4")
    assert second.wait() == 0, second.output()

    listed = sandbox.aiki("list", "--json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    runs = {run["id"]: run for run in json.loads(listed.stdout)}
    assert {run_id: runs[run_id]["status"] for run_id in keys} == dict.fromkeys(keys, "completed")
    assert {run_id: runs[run_id]["recoveries"] for run_id in keys} == {
        run_id: int(run_id in in_flight) for run_id in keys
    }
    counts = sandbox.counts()
    for run_id, key in keys.items():
        expected = {task: 1 for task in STEPS}
        if run_id in in_flight:
            assert before[run_id] == {"step-one", "step-two"}
            expected["slow-step"] = 2
        assert {task: counts[key, task] for task in STEPS} == expected, run_id
