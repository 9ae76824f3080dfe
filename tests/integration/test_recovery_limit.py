"""A run whose task kills its worker every time does not crash workers forever (SPEC §4).

Each takeover of a run whose worker died counts as a recovery; past the limit (10 by
default) the next worker fails the run with RecoveryLimitExceeded, naming the task that
was in flight, instead of executing it again.
"""

from __future__ import annotations

import signal

import pytest

from aiki_cli.engine.execution import DEFAULT_MAX_RECOVERIES

from .harness import Sandbox

# The first worker, one per allowed recovery, and the one that gives up; bounded anyway.
EXPECTED_LAUNCHES = 1 + DEFAULT_MAX_RECOVERIES + 1
MAX_LAUNCHES = 15


@pytest.mark.slow
def test_a_task_that_keeps_killing_its_worker_fails_the_run_after_the_recovery_limit(
    sandbox: Sandbox,
) -> None:
    run_id = sandbox.start("it-crash@1.0.0", {"key": "doomed"})
    exits = []
    while len(exits) < MAX_LAUNCHES:
        worker = sandbox.worker("--until-idle")
        exits.append(worker.wait())
        if exits[-1] == 0:
            break
    assert exits == [-signal.SIGKILL] * (EXPECTED_LAUNCHES - 1) + [0]

    status = sandbox.status(run_id)
    assert status["status"] == "failed", status
    assert status["error"]["type"] == "RecoveryLimitExceeded"
    assert "crash" in status["error"]["message"]
    assert status["recoveries"] == DEFAULT_MAX_RECOVERIES + 1
    counts = sandbox.counts()
    assert counts["doomed", "before-crash"] == 1, "a completed task is never run again"
    assert counts["doomed", "crash"] == 1 + DEFAULT_MAX_RECOVERIES, "not run after the limit"
    journal = sandbox.journal(run_id)
    recovered = [entry["count"] for entry in journal if entry["type"] == "recovered"]
    assert recovered == list(range(1, DEFAULT_MAX_RECOVERIES + 2))
    assert journal[-1]["type"] == "status"
    assert (journal[-1]["from"], journal[-1]["to"]) == ("running", "failed")
