"""SIGTERM, as a deploy sends it, stops a worker without losing or repeating work (SPEC §5).

The first signal lets the task in flight finish and journal its result, then hands the
run back to the queue; the next worker resumes it with nothing executed twice and no
recovery counted, because nobody died.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from .harness import Process, Sandbox, wait_until

STEPS = ["step-one", "step-two", "slow-step", "step-four"]


def sigterm(worker: Process, *, note: str) -> None:
    """Signal the worker and wait until its output shows it acted on the signal."""
    worker.process.send_signal(signal.SIGTERM)
    wait_until(lambda: note in worker.output(), f"the worker to log {note!r}")


@pytest.mark.slow
def test_sigterm_finishes_the_task_in_flight_and_requeues_the_run(sandbox: Sandbox) -> None:
    run_id = sandbox.start("it-steps@1.0.0", {"key": "term"})
    first = sandbox.worker("--concurrency", "1")
    sandbox.wait_for_task(run_id, "term", "slow-step", alive=first)
    sigterm(first, note="stopping:")

    sandbox.go()
    assert first.wait() == 0, first.output()
    last = sandbox.journal(run_id)[-2:]
    assert (last[0]["type"], last[0]["task"]) == ("task_completed", "slow-step")
    assert (last[1]["to"], last[1]["reason"]) == ("pending", "worker stopped")

    second = sandbox.worker("--until-idle")
    assert second.wait() == 0, second.output()
    status = sandbox.status(run_id)
    assert status["status"] == "completed", status
    assert status["recoveries"] == 0
    counts = sandbox.counts()
    assert {task: counts["term", task] for task in STEPS} == dict.fromkeys(STEPS, 1)


@pytest.mark.slow
def test_a_second_sigterm_stops_the_worker_while_a_task_still_runs(sandbox: Sandbox) -> None:
    run_id = sandbox.start("it-steps@1.0.0", {"key": "now"})
    first = sandbox.worker("--concurrency", "1")
    sandbox.wait_for_task(run_id, "now", "slow-step", alive=first)
    sigterm(first, note="stopping:")
    sigterm(first, note="stopped")
    try:
        first.process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker did not exit on 'stop now'")
    finally:
        sandbox.go()
    assert sandbox.journal(run_id)[-1]["to"] == "pending"
