"""A torn last journal line, as a crash in the middle of a write leaves it, is detected and
cut off before the next worker appends (SPEC §4: "a torn last write is detected and
ignored, and the run can be resumed").

The worker is killed while `slow-step` executes; the test then writes the start of that
task's `task_completed` line without its newline, as the dying worker would have. The
next worker must not take the fragment for a result (the task runs again) and must not
append after it (every line of the final journal is JSON).
"""

from __future__ import annotations

import json

import pytest

from .harness import Sandbox


def torn_completion(started: dict[str, object], keep: str) -> bytes:
    """The bytes of slow-step's task_completed line a write cut short left behind."""
    line = json.dumps(
        {
            "type": "task_completed",
            "at": started["at"],
            "task": started["task"],
            "hash": started["hash"],
            "output": {"slow": 3},
            "attempt": 1,
        },
        separators=(",", ":"),
    ).encode()
    return line[: len(line) // 2] if keep == "half" else line


@pytest.mark.slow
@pytest.mark.parametrize("keep", ["half", "all-but-the-newline"])
def test_a_torn_tail_is_cut_off_and_the_run_resumes(sandbox: Sandbox, keep: str) -> None:
    run_id = sandbox.start("it-steps@1.0.0", {"key": "torn"})
    first = sandbox.worker("--concurrency", "1")
    sandbox.wait_for_task(run_id, "torn", "slow-step", alive=first)
    first.kill9()

    path = sandbox.journal_path(run_id)
    intact = path.read_bytes()
    assert intact.endswith(b"\n")
    started = json.loads(intact.splitlines()[-1])
    assert (started["type"], started["task"]) == ("task_started", "slow-step")
    torn = torn_completion(started, keep)
    with open(path, "ab") as journal:
        journal.write(torn)
    assert sandbox.status(run_id)["status"] == "running", "readers ignore the torn tail"

    sandbox.go()
    second = sandbox.worker("--until-idle")
    assert second.wait() == 0, second.output()

    status = sandbox.status(run_id)
    assert status["status"] == "completed", status
    assert status["result"]["four"] == 4
    counts = sandbox.counts()
    assert counts["torn", "step-one"] == counts["torn", "step-two"] == 1
    assert counts["torn", "slow-step"] == 2, "a torn line is not a recorded result"

    final = path.read_bytes()
    assert final.startswith(intact)
    assert final.endswith(b"\n")
    entries = [json.loads(line) for line in final.splitlines()]
    resumed = entries[len(intact.splitlines())]
    assert resumed["type"] == "recovered", "appending resumed where the intact lines end"
