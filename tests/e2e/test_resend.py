"""`aiki send --reference-id` again after the run has ended (issue 15 item 6): a retrying
webhook relay resends what it already delivered, and must not fail for it.

Through the real executable, with a real worker process executing the run.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import SUBPROCESS_TIMEOUT, Invoke, assert_one_error, start

PARKED = Path(__file__).parent / "parked_workflows"
Spawn = Callable[..., subprocess.Popen[str]]


@pytest.fixture(autouse=True)
def parked_workflows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(PARKED))


def events_in_journal(runs: Path, run_id: str) -> list[dict[str, object]]:
    """The event entries of the run's journal, read from the file."""
    lines = (runs / "run" / run_id / "journal.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    return [entry for entry in entries if entry["type"] == "event_received"]


def test_a_resend_after_a_worker_completed_the_run_exits_0_already_sent(
    aiki: Invoke, cli: Invoke, spawn: Spawn, runs: Path
) -> None:
    run_id = start(cli, "e2e-event@1.0.0")
    worker = spawn("worker", "--poll-interval", "0.05")
    try:
        sent = aiki("send", run_id, "go", "--data-json", '{"n": 1}', "--reference-id", "hook-1")
        assert sent.code == 0 and sent.stdout == "", sent
        waited = aiki("wait", run_id, "--timeout", "20", "--json")
        assert waited.code == 0, waited
        assert waited.json()["result"] == {"n": 1}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=SUBPROCESS_TIMEOUT)

    again = aiki("send", run_id, "go", "--data-json", '{"n": 1}', "--reference-id", "hook-1")

    assert again.code == 0, again
    assert again.stdout == "" and "already sent" in again.stderr, again
    as_json = aiki("send", run_id, "go", "--reference-id", "hook-1", "--json")
    assert as_json.code == 0, as_json
    assert as_json.json() == {"id": run_id, "event": "go", "delivered": False}
    assert len(events_in_journal(runs, run_id)) == 1  # nothing delivered twice
    assert_one_error(
        aiki("send", run_id, "go", "--reference-id", "hook-2"), 2, "completed", "cannot take events"
    )


def test_a_resend_of_an_event_the_run_ended_without_reading_exits_0(
    aiki: Invoke, cli: Invoke, runs: Path
) -> None:
    run_id = start(cli, "e2e-event@1.0.0")
    assert aiki("send", run_id, "go", "--reference-id", "hook-1").code == 0
    assert aiki("cancel", run_id).code == 0  # cancelled before any worker read the event
    before = sorted(path.relative_to(runs) for path in runs.rglob("*"))

    again = aiki("send", run_id, "go", "--reference-id", "hook-1")

    assert again.code == 0 and "already sent" in again.stderr, again
    assert sorted(path.relative_to(runs) for path in runs.rglob("*")) == before  # wrote nothing
    assert_one_error(aiki("send", run_id, "go"), 2, "cancelled", "cannot take events")
