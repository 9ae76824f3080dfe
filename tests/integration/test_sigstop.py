"""A SIGSTOPped worker stalls its runs for as long as it is stopped, and no longer
(issue 16, documented in the README): a stopped process keeps its locks, so no other
worker takes its run meanwhile, and after SIGCONT it carries on as if nothing happened.
Nothing is executed twice."""

from __future__ import annotations

import signal

import pytest

from aiki_cli import FileStore

from .harness import Sandbox, wait_until

KEY = "stopped"


@pytest.mark.slow
def test_a_stopped_worker_keeps_its_run_and_finishes_it_once_continued(sandbox: Sandbox) -> None:
    run_id = sandbox.start("it-solo@1.0.0", {"key": KEY})
    first = sandbox.worker("--until-idle")
    sandbox.wait_for_task(run_id, KEY, "long-step", alive=first)

    first.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: _state(first.pid) == "T", "the worker to be stopped")
        other = sandbox.worker("--until-idle")
        assert other.wait() == 0, other.output()  # found nothing it could claim
        assert FileStore(sandbox.runs).claim(run_id) is None, "the stopped worker holds it"
        assert sandbox.status(run_id)["status"] == "running"
    finally:
        first.process.send_signal(signal.SIGCONT)

    sandbox.go()
    assert first.wait() == 0, first.output()
    assert sandbox.status(run_id)["status"] == "completed"
    counts = sandbox.counts()
    assert (counts[KEY, "long-step"], counts[KEY, "after-long"]) == (1, 1)
    assert sandbox.overlaps() == []


def _state(pid: int) -> str:
    """The process's state letter (`T` when stopped), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]
