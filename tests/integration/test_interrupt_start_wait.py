"""Ctrl-C on `aiki start --wait` never lets two processes execute one task (issue 16.1).

`start --wait` with no worker executes the run in its own process, a plain-function task
in a thread. SIGINT hands the run back to the queue; Python cannot stop the thread, so
the CLI must not let the run go while the thread can still execute the task's body: it
exits at once (as `kill -9` would), which ends the thread before the kernel drops its
claim. Whoever resumes the run (a worker, or the same command again with the same
idempotency key) executes the task again, but never beside the interrupted execution:
`long-step` reports any other live process executing it (tests/probe.py).
"""

from __future__ import annotations

import re
import signal

import pytest

from .harness import Process, Sandbox, wait_until

KEY = "ctrl-c"
RUN_ID = re.compile(r"[0-9a-z]{26}\n")


def start_wait(sandbox: Sandbox, *key: str) -> Process:
    """`aiki start it-solo@1.0.0 --wait`, with `--idempotency-key` when `key` is given."""
    keyed = ["--idempotency-key", *key] if key else []
    return sandbox.spawn(
        "start", "it-solo@1.0.0", "--input-json", f'{{"key": "{KEY}"}}', *keyed, "--wait"
    )


def interrupted(sandbox: Sandbox, *key: str) -> tuple[str, Process]:
    """`start --wait` of it-solo, SIGINTed while `long-step` executes; its run id."""
    cli = start_wait(sandbox, *key)
    wait_until(lambda: RUN_ID.match(cli.output()) is not None, "the run's id", alive=cli)
    run_id = cli.output().split()[0]
    sandbox.wait_for_task(run_id, KEY, "long-step", alive=cli)
    cli.process.send_signal(signal.SIGINT)
    wait_until(
        lambda: sandbox.journal(run_id)[-1].get("to") == "pending",
        "the run to be handed back to the queue",
    )
    return run_id, cli


@pytest.mark.slow
@pytest.mark.parametrize("rerun", ["worker", "the same key"])
def test_ctrl_c_of_start_wait_never_runs_a_task_in_two_processes_at_once(
    sandbox: Sandbox, rerun: str
) -> None:
    key = [KEY] if rerun == "the same key" else []
    run_id, cli = interrupted(sandbox, *key)
    status = sandbox.status(run_id)
    assert status["status"] == "pending", status
    assert [(t["name"], t["status"]) for t in status["tasks"]] == [("long-step", "interrupted")]

    again = start_wait(sandbox, *key) if key else sandbox.worker("--until-idle")
    wait_until(lambda: sandbox.counts()[KEY, "long-step"] == 2, "long-step to run again")
    sandbox.go()
    assert again.wait() == 0, again.output()
    code = cli.wait()

    assert sandbox.overlaps() == [], "two processes executed long-step at once"
    assert code == 130, cli.output()
    lines = cli.output().splitlines()
    assert lines[0] == run_id
    assert "Traceback" not in cli.output()
    by_key = " (or this same command again, by its idempotency key)" if key else ""
    assert lines[-1] == (
        f"error: interrupted: run {run_id} is left pending; task 'long-step' was stopped "
        f"mid-way and runs again; `aiki worker`{by_key} resumes it"
    ), lines
    assert sandbox.status(run_id)["status"] == "completed"
    counts = sandbox.counts()
    assert (counts[KEY, "long-step"], counts[KEY, "after-long"]) == (2, 1)
