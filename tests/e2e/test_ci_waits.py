"""What a CI script waits on never hangs (issue 15 items 8 and 10, issue 16 item 11):
`aiki wait` with no worker, `retry --wait`, `worker --until-idle --include-sleeping` and
its summary line, and `start --wait` beside a worker that does not load the workflow.

Through the real executable, with real worker processes; every process has a timeout.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import (
    SUBPROCESS_TIMEOUT,
    WORKFLOWS,
    Invoke,
    assert_one_error,
    start,
    wait_for,
)

PARKED = Path(__file__).parent / "parked_workflows"
Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture(autouse=True)
def parked_workflows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(PARKED))


def logged(tmp_path: Path, **more: object) -> str:
    """The input of a parked workflow: its tasks append their names to `log`."""
    return json.dumps({"log": str(tmp_path / "log"), **more})


def ran(tmp_path: Path) -> list[str]:
    """The task bodies that ran, in order, read from the log file."""
    log = tmp_path / "log"
    return log.read_text().splitlines() if log.exists() else []


def status_of(cli: Invoke, run_id: str) -> str:
    status: str = cli("status", run_id, "--json").json()["status"]
    return status


def stop(worker: subprocess.Popen[str]) -> str:
    """SIGTERM the worker; its stderr once it has exited."""
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=SUBPROCESS_TIMEOUT)
    return err


def registered(runs: Path) -> Callable[[], bool]:
    return lambda: any((runs / "workers").glob("*.json"))


# -- aiki wait with no worker -----------------------------------------------------------


def test_wait_with_no_worker_says_so_up_front_and_exits_5_at_its_timeout(
    aiki: Invoke, cli: Invoke
) -> None:
    run_id = start(cli, "e2e-nap@1.0.0", "--input-json", '{"seconds": 1, "log": "x"}')

    outcome = aiki("wait", run_id, "--timeout", "0.5")

    assert outcome.code == 5 and outcome.stdout == "", outcome
    first, last = outcome.stderr.splitlines()
    assert "no worker that loads e2e-nap@1.0.0 is running" in first
    assert "aiki worker" in first and "giving up (exit 5) after 0.5s" in first
    assert last.startswith(f"error: run {run_id} is still pending after 0.5s")


def test_wait_without_a_timeout_says_it_gives_up_if_no_worker_comes(
    cli: Invoke, spawn: Spawn
) -> None:
    run_id = start(cli, "e2e-nap@1.0.0", "--input-json", '{"seconds": 1, "log": "x"}')
    waiting = spawn("wait", run_id)
    assert waiting.stderr is not None

    first = waiting.stderr.readline()  # said before it starts waiting

    assert "no worker that loads e2e-nap@1.0.0 is running" in first, first
    assert "giving up (exit 5) if none starts within 60s" in first, first
    waiting.kill()
    waiting.communicate(timeout=SUBPROCESS_TIMEOUT)


# -- retry --wait -------------------------------------------------------------------------


def test_retry_wait_executes_the_run_in_process_when_no_worker_runs(
    aiki: Invoke, tmp_path: Path
) -> None:
    text = logged(tmp_path, fixed=str(tmp_path / "fixed"))
    failed = aiki("start", "e2e-fixable@1.0.0", "--input-json", text, "--wait")
    assert failed.code == 1, failed
    run_id = failed.run_id()
    (tmp_path / "fixed").touch()  # the bug is fixed

    outcome = aiki("retry", run_id, "--wait", "--timeout", "20", "--json")

    assert outcome.code == 0, outcome
    document = outcome.json()
    assert (document["id"], document["status"], document["result"]) == (
        run_id,
        "completed",
        "fixed",
    )
    assert ran(tmp_path) == ["fails-unless", "fails-unless"]
    again = aiki("retry", run_id, "--wait")  # a completed run cannot be retried
    assert_one_error(again, 2, "is completed", "cannot be retried")


def test_retry_wait_follows_a_live_worker_and_exits_by_the_outcome(
    aiki: Invoke, cli: Invoke, spawn: Spawn, runs: Path, tmp_path: Path
) -> None:
    failed = aiki("start", "e2e-fixable@1.0.0", "--input-json", logged(tmp_path, fixed="-"))
    run_id = failed.run_id()
    assert aiki("cancel", run_id).code == 0
    worker = spawn("worker", "--poll-interval", "0.05")
    try:
        wait_for(registered(runs), "the worker to register")

        outcome = aiki("retry", run_id, "--wait", "--timeout", "20")

        assert outcome.code == 1, outcome  # the bug is not fixed: the run fails again
        assert "a worker is running" in outcome.stderr
        assert outcome.stderr.splitlines()[-1].startswith(f"error: run {run_id} failed")
    finally:
        stop(worker)
    assert ran(tmp_path) == ["fails-unless"]  # executed once, by the worker


def test_retry_wait_of_a_workflow_nothing_loads_exits_4_and_writes_nothing(
    aiki: Invoke, cli: Invoke, tmp_path: Path, runs: Path
) -> None:
    failed = aiki("start", "e2e-fixable@1.0.0", "--input-json", logged(tmp_path, fixed="-"))
    run_id = failed.run_id()
    assert aiki("cancel", run_id).code == 0
    journal = (runs / "run" / run_id / "journal.jsonl").read_bytes()

    outcome = aiki("retry", run_id, "--wait", "--workflows-dir", str(WORKFLOWS))

    assert_one_error(outcome, 4, "e2e-fixable@1.0.0")
    assert (runs / "run" / run_id / "journal.jsonl").read_bytes() == journal
    assert status_of(cli, run_id) == "cancelled"


# -- worker --until-idle --include-sleeping -------------------------------------------


def test_until_idle_with_include_sleeping_waits_for_short_sleeps_and_retries(
    aiki: Invoke, cli: Invoke, tmp_path: Path
) -> None:
    napping = start(cli, "e2e-nap@1.0.0", "--input-json", logged(tmp_path, seconds=2))
    retrying = start(cli, "e2e-retry-soon@1.0.0", "--input-json", logged(tmp_path))
    failing = start(cli, "e2e-fixable@1.0.0", "--input-json", logged(tmp_path, fixed="-"))

    outcome = aiki("worker", "--until-idle", "--include-sleeping", "--poll-interval", "0.05")

    assert outcome.code == 0 and outcome.stdout == "", outcome
    assert [status_of(cli, run) for run in (napping, retrying, failing)] == [
        "completed",
        "completed",
        "failed",
    ]
    assert sorted(ran(tmp_path)) == ["after-nap", "fails-first", "fails-first", "fails-unless"]
    summary = outcome.stderr.splitlines()[-1]
    assert summary.endswith("stopped; ran 3 runs: 2 completed, 1 failed"), outcome.stderr
    assert aiki("wait", napping, "--timeout", "5").code == 0  # `worker && wait` cannot hang


def test_until_idle_alone_leaves_parked_runs_and_says_so(
    aiki: Invoke, cli: Invoke, tmp_path: Path
) -> None:
    napping = start(cli, "e2e-nap@1.0.0", "--input-json", logged(tmp_path, seconds=60))
    start(cli, "e2e-fixable@1.0.0", "--input-json", logged(tmp_path, fixed="-"))

    plain = aiki("worker", "--until-idle", "--poll-interval", "0.05")
    beyond = aiki("worker", "--until-idle", "--max-sleep", "1s", "--poll-interval", "0.05")

    assert plain.code == 0, plain
    assert plain.stderr.splitlines()[-1].endswith("stopped; ran 2 runs: 1 sleeping, 1 failed")
    assert beyond.code == 0, beyond  # a 60 s sleep is not due within 1 s: no waiting for it
    assert beyond.stderr.splitlines()[-1].endswith("stopped; ran no runs")
    assert status_of(cli, napping) == "sleeping"
    assert ran(tmp_path) == ["fails-unless"]


def test_include_sleeping_without_until_idle_is_bad_usage(aiki: Invoke) -> None:
    assert_one_error(aiki("worker", "--include-sleeping"), 2, "--until-idle")
    assert_one_error(aiki("worker", "--until-idle", "--max-sleep", "soon"), 2, "--max-sleep")


# -- start --wait beside a worker that does not load the workflow ---------------------


def test_start_wait_executes_here_when_the_live_worker_does_not_load_the_workflow(
    aiki: Invoke, cli: Invoke, spawn: Spawn, runs: Path, tmp_path: Path
) -> None:
    worker = spawn("worker", "--workflows-dir", str(WORKFLOWS), "--poll-interval", "0.05")
    try:
        wait_for(registered(runs), "the worker to register")
        text = logged(tmp_path, fixed=str(tmp_path))

        outcome = aiki("start", "e2e-fixable@1.0.0", "--input-json", text, "--wait")

        assert outcome.code == 0, outcome
        run_id = outcome.run_id()
        assert f"no running worker loads e2e-fixable@1.0.0; executing run {run_id} here" in (
            outcome.stderr
        )
        assert status_of(cli, run_id) == "completed"
        waited = aiki("wait", start(cli, "e2e-nap@1.0.0", "--input-json", text), "--timeout", "0.2")
        assert waited.code == 5 and "no worker that loads e2e-nap@1.0.0" in waited.stderr
    finally:
        err = stop(worker)
    assert "Traceback" not in err
