"""Following a run from another process (issue 20 item 4): `history --follow --json` and
`status --follow --json` print every journal entry exactly once, in order, as a worker in
another process writes them, through a `kill -9` of that worker and the takeover by the
next; they end with the run, exiting by its outcome."""

from __future__ import annotations

import json
from pathlib import Path

from .harness import Process, Sandbox, wait_until

FLOWS = Path(__file__).resolve().parents[1] / "e2e" / "live_workflows"


def gate_entries(sandbox: Sandbox, run_id: str) -> int:
    return sum(
        entry["type"] == "task_started" and entry["task"] == "gate"
        for entry in sandbox.journal(run_id)
    )


def followed(sandbox: Sandbox, follower: Process, run_id: str) -> list[str]:
    assert follower.wait() == 0, follower.output()
    lines = follower.output().splitlines()
    on_disk = sandbox.journal_path(run_id).read_text().splitlines()
    assert lines == on_disk  # every entry, once, in order, as journaled
    return lines


def test_a_follower_sees_every_entry_once_through_a_kill_and_a_takeover(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    input = {"open": str(gate), "before": 5, "after": 5}
    run_id = sandbox.start("gated@1.0.0", input, workflows=FLOWS)
    history = sandbox.spawn("history", run_id, "--follow", "--json", workflows=FLOWS)
    status = sandbox.spawn("status", run_id, "--follow", "--json", workflows=FLOWS)

    first = sandbox.worker(workflows=FLOWS)
    wait_until(lambda: gate_entries(sandbox, run_id) == 1, "the gate task started", alive=first)
    first.kill9()
    second = sandbox.worker(workflows=FLOWS)
    wait_until(lambda: gate_entries(sandbox, run_id) == 2, "the gate task again", alive=second)
    gate.touch()

    lines = followed(sandbox, history, run_id)
    assert followed(sandbox, status, run_id) == lines
    entries = [json.loads(line) for line in lines]
    assert [e["type"] for e in entries].count("recovered") == 1
    assert entries[-1]["type"] == "status" and entries[-1]["to"] == "completed"
    assert [e["message"] for e in entries if e["type"] == "progress"] == ["at the gate", "through"]


def test_following_a_failing_run_exits_1_after_its_last_entry(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    run_id = sandbox.start("gated@1.0.0", {"open": str(gate), "fail": True}, workflows=FLOWS)
    follower = sandbox.spawn("history", run_id, "--follow", "--json", workflows=FLOWS)
    sandbox.worker(workflows=FLOWS)
    gate.touch()

    assert follower.wait() == 1
    *lines, said = follower.output().splitlines()  # its stdout, then its stderr's one line
    assert lines == sandbox.journal_path(run_id).read_text().splitlines()
    assert json.loads(lines[-1])["to"] == "failed"
    assert said == f"error: run {run_id} failed: RuntimeError: asked to fail"
