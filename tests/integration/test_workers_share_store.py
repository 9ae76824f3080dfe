"""Several worker processes share one store: each run is executed once, by one worker at a
time, and every run finishes (SPEC §4: "file locks make sure a run is executed by at most
one worker at a time").

All three workers hold their first four runs at the `gate` task until each of them has
claimed four, so the test cannot pass with one worker doing all the work while the
others are still starting up.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from aiki_cli import Client
from aiki_cli.authoring.loader import load_workflows

from .harness import WORKFLOWS, Sandbox, wait_until

RUNS = 150
WORKERS = 3
CONCURRENCY = 4
TASKS = ("gate", "shared-two", "shared-three")


@pytest.mark.slow
def test_three_workers_finish_150_runs_executing_each_task_once(sandbox: Sandbox) -> None:
    version = load_workflows(WORKFLOWS)["it-shared@1.0.0"]
    client = Client(sandbox.runs)
    keys = {client.create(version, {"key": f"run-{n:03}"}).id: f"run-{n:03}" for n in range(RUNS)}
    workers = [
        sandbox.worker("--until-idle", "--concurrency", str(CONCURRENCY)) for _ in range(WORKERS)
    ]

    def all_slots_taken() -> bool:
        return sum(sandbox.counts().values()) == WORKERS * CONCURRENCY

    wait_until(all_slots_taken, "every worker to fill its slots", alive=workers)
    sandbox.go()
    for worker in workers:
        assert worker.wait() == 0, worker.output()

    assert sandbox.overlaps() == [], "two workers executed one run at the same time"
    counts = sandbox.counts()
    assert set(counts.values()) == {1}, [item for item, count in counts.items() if count > 1]
    assert sorted(counts) == sorted((key, task) for key in keys.values() for task in TASKS)

    listed = sandbox.aiki("list", "--json", "--limit", "1000", "--status", "completed")
    assert listed.returncode == 0, listed.stderr
    completed = {run["id"] for run in json.loads(listed.stdout)}
    assert completed == set(keys), f"{len(set(keys) - completed)} runs did not complete"

    executed_by = Counter(
        entry["worker"]
        for run_id in keys
        for entry in sandbox.journal(run_id)
        if entry["type"] == "status" and entry["to"] == "running"
    )
    assert len(executed_by) == WORKERS
    assert sum(executed_by.values()) == RUNS, "each run was claimed for execution once"
