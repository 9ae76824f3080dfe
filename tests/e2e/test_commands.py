"""The reading and acting commands: status, list, wait, cancel, history, workflows, worker.

Runs are set up in-process (CliRunner) because that is fast; what a test is about runs
through the real executable where the exit code or the process boundary matters.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import (
    SUBPROCESS_TIMEOUT,
    Invoke,
    assert_one_error,
    finished,
    gate_input,
    start,
    wait_for,
)

Spawn = Callable[..., subprocess.Popen[str]]


def status_of(cli: Invoke, run_id: str) -> str:
    return str(cli("status", run_id, "--json").json()["status"])


# -- status ---------------------------------------------------------------------------


def test_status_json_of_a_completed_run(aiki: Invoke, cli: Invoke) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0", "--input-json", '{"n": 5}')

    outcome = aiki("status", run_id, "--json")

    assert outcome.code == 0 and outcome.stderr == "", outcome
    document = outcome.json()
    assert document["id"] == run_id
    assert (document["workflow"], document["version"]) == ("e2e-echo", "1.0.0")
    assert (document["status"], document["input"]) == ("completed", {"n": 5})
    assert document["result"] == {"doubled": 10, "word": "HI!"}
    assert "error" not in document
    assert document["created_at"] <= document["updated_at"]
    assert [(t["name"], t["status"], t["attempts"]) for t in document["tasks"]] == [
        ("double", "completed", 1),
        ("shout", "completed", 1),
    ]


def test_status_json_of_a_failed_run_has_the_error_and_no_result(cli: Invoke) -> None:
    run_id = finished(cli, "e2e-boom@1.0.0")

    document = cli("status", run_id, "--json").json()

    assert document["status"] == "failed" and "result" not in document
    assert document["error"]["type"] == "TaskFailed"
    assert "ValueError: kaboom 7" in document["error"]["message"]
    [call] = document["tasks"]
    assert (call["name"], call["status"], call["attempts"]) == ("explode", "failed", 1)


def test_status_panel_shows_the_id_status_and_tasks(cli: Invoke) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0", "--input-json", '{"n": 5}')

    outcome = cli("status", run_id)

    assert outcome.code == 0 and outcome.stderr == "", outcome
    for shown in (run_id, "e2e-echo@1.0.0", "completed", "double", "shout", '{"n": 5}'):
        assert shown in outcome.stdout, (shown, outcome.stdout)


def test_status_of_a_pending_run_with_a_cancel_requested(cli: Invoke, runs: Path) -> None:
    run_id = start(cli, "e2e-echo@1.0.0")
    (runs / "run" / run_id / "cancel").touch()  # as `cancel` leaves it for a busy worker

    assert "cancel requested" in cli("status", run_id).stdout
    assert cli("status", run_id, "--json").json()["cancel_requested"] is True


# -- list -----------------------------------------------------------------------------


@pytest.fixture
def three_runs(cli: Invoke) -> list[str]:
    """A completed, a failed and a pending run, oldest first."""
    return [
        finished(cli, "e2e-echo@1.0.0"),
        finished(cli, "e2e-boom@1.0.0"),
        start(cli, "e2e-echo@2.0.0", "--input-json", '{"secret": 1}'),
    ]


def test_list_json_is_an_array_newest_first_without_inputs(
    aiki: Invoke, three_runs: list[str]
) -> None:
    outcome = aiki("list", "--json")  # the real executable, once per command

    assert outcome.code == 0 and outcome.stderr == "", outcome
    documents = outcome.json()
    assert [d["id"] for d in documents] == three_runs[::-1]
    assert [d["status"] for d in documents] == ["pending", "failed", "completed"]
    for document in documents:
        assert {"id", "workflow", "version", "status", "created_at", "updated_at"} <= set(document)
        assert "input" not in document and "result" not in document


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--status", "failed"], [1]),
        (["--status", "COMPLETED"], [0]),
        (["--status", "cancelled"], []),
        (["--workflow", "e2e-echo"], [2, 0]),
        (["--workflow", "e2e-echo@2.0.0"], [2]),
        (["--workflow", "e2e-echo@1.0.0", "--status", "completed"], [0]),
        (["--workflow", "nope"], []),
        (["--limit", "2"], [2, 1]),
        (["--limit", "1", "--workflow", "e2e-boom"], [1]),
    ],
)
def test_list_filters(
    cli: Invoke, three_runs: list[str], args: list[str], expected: list[int]
) -> None:
    outcome = cli("list", "--json", *args)

    assert outcome.code == 0, outcome
    assert [d["id"] for d in outcome.json()] == [three_runs[i] for i in expected]


def test_list_table_shows_every_run(cli: Invoke, three_runs: list[str]) -> None:
    lines = cli("list", env={"COLUMNS": "140"}).stdout.splitlines()  # a row a line

    assert lines[0].split() == ["id", "workflow", "status", "created", "updated"]
    assert [line.split()[:3] for line in lines[1:]] == [
        [three_runs[2], "e2e-echo@2.0.0", "pending"],
        [three_runs[1], "e2e-boom@1.0.0", "failed"],
        [three_runs[0], "e2e-echo@1.0.0", "completed"],
    ]


def test_list_of_an_empty_store_says_so_and_writes_nothing(cli: Invoke, runs: Path) -> None:
    assert cli("list").stderr == "no runs\n"
    assert cli("list", "--json").json() == []
    assert not runs.exists()


# -- wait -----------------------------------------------------------------------------


@pytest.fixture
def runs_by_status(cli: Invoke) -> dict[str, str]:
    return {
        "completed": finished(cli, "e2e-echo@1.0.0"),
        "failed": finished(cli, "e2e-boom@1.0.0"),
        "cancelled": cli("cancel", start(cli, "e2e-echo@1.0.0"), "--json").json()["id"],
        "pending": start(cli, "e2e-echo@1.0.0"),
    }


@pytest.mark.parametrize(
    ("status", "code", "said"),
    [
        ("completed", 0, ""),
        ("failed", 1, "failed: TaskFailed"),
        ("cancelled", 3, "was cancelled"),
        ("pending", 5, "is still pending after 0.2s"),
    ],
)
def test_wait_exits_by_the_runs_outcome(
    cli: Invoke, runs_by_status: dict[str, str], status: str, code: int, said: str
) -> None:
    run_id = runs_by_status[status]

    outcome = cli("wait", run_id, "--timeout", "0.2")

    assert outcome.code == code, outcome
    assert outcome.stdout == "" and "Traceback" not in outcome.stderr
    if said:
        assert outcome.stderr.splitlines()[-1].startswith(f"error: run {run_id} {said}")


def test_wait_json_prints_the_document_of_the_ended_run(
    cli: Invoke, runs_by_status: dict[str, str]
) -> None:
    outcome = cli("wait", runs_by_status["failed"], "--json")

    assert outcome.code == 1
    assert outcome.json()["error"]["type"] == "TaskFailed"


def test_a_live_worker_executes_runs_that_wait_and_start_wait_follow(
    aiki: Invoke, cli: Invoke, spawn: Spawn, runs: Path
) -> None:
    run_id = start(cli, "e2e-echo@1.0.0", "--input-json", '{"n": 6}')
    worker = spawn("worker", "--poll-interval", "0.05")
    wait_for(lambda: any((runs / "workers").glob("*.json")), "the worker to register")

    waited = aiki("wait", run_id, "--timeout", "20", "--json")
    assert waited.code == 0, waited
    assert waited.json()["result"] == {"doubled": 12, "word": "HI!"}

    started = aiki("start", "e2e-echo@2.0.0", "--wait", "--timeout", "20")
    assert started.code == 0, started
    assert "a worker is running" in started.stderr
    assert status_of(cli, started.run_id()) == "completed"

    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=SUBPROCESS_TIMEOUT)
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert not any((runs / "workers").glob("*.json"))  # it signed off


# -- cancel ---------------------------------------------------------------------------


def test_cancel_a_pending_run_at_once_and_again(aiki: Invoke, cli: Invoke) -> None:
    run_id = start(cli, "e2e-echo@1.0.0")

    first = aiki("cancel", run_id)
    assert first.code == 0 and first.stdout == "", first
    assert status_of(cli, run_id) == "cancelled"  # no worker needed

    again = cli("cancel", run_id, "--json")
    assert again.code == 0, again
    assert again.json()["status"] == "cancelled"


def test_cancel_a_completed_run_exits_2_saying_it_is_completed(cli: Invoke) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")

    assert_one_error(cli("cancel", run_id), 2, run_id, "completed")
    assert status_of(cli, run_id) == "completed"


def test_cancel_a_failed_run_exits_2(cli: Invoke) -> None:
    run_id = finished(cli, "e2e-boom@1.0.0")

    assert_one_error(cli("cancel", run_id), 2, run_id, "failed")


def test_a_cancelled_run_is_not_executed_by_a_worker(cli: Invoke) -> None:
    run_id = start(cli, "e2e-echo@1.0.0")
    cli("cancel", run_id)

    assert cli("worker", "--until-idle").code == 0
    assert cli("status", run_id, "--json").json()["tasks"] == []


# -- history --------------------------------------------------------------------------


def test_history_json_lists_the_journal_entries(aiki: Invoke, cli: Invoke) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")

    outcome = aiki("history", run_id, "--json")

    assert outcome.code == 0 and outcome.stderr == "", outcome
    entries = outcome.json()
    assert all({"type", "at"} <= entry.keys() for entry in entries)
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
    statuses = [(e["from"], e["to"]) for e in entries if e["type"] == "status"]
    assert statuses == [("pending", "running"), ("running", "completed")]
    tasks = [e.get("task") for e in entries if e["type"] != "status"]
    assert tasks == ["double", "double", "shout", "shout"]


def test_history_timeline_for_people(cli: Invoke, tmp_path: Path) -> None:
    run_id = finished(cli, "e2e-boom@1.0.0")

    outcome = cli("history", run_id)

    assert outcome.code == 0, outcome
    text = outcome.stdout
    for shown in ("pending → running", "explode", "ValueError: kaboom 7", "running → failed"):
        assert shown in text, (shown, text)


def test_history_of_a_pending_run_is_empty(cli: Invoke) -> None:
    run_id = start(cli, "e2e-echo@1.0.0")

    assert cli("history", run_id, "--json").json() == []


# -- workflows ------------------------------------------------------------------------


def test_workflows_json_lists_every_version_with_its_tasks(aiki: Invoke) -> None:
    outcome = aiki("workflows", "--json")

    assert outcome.code == 0 and outcome.stderr == "", outcome
    listed = {(w["workflow"], w["version"]): w["tasks"] for w in outcome.json()}
    assert sorted(listed) == [
        ("e2e-boom", "1.0.0"),
        ("e2e-echo", "1.0.0"),
        ("e2e-echo", "2.0.0"),
        ("e2e-gated", "1.0.0"),
        ("e2e-gated-sync", "1.0.0"),
        ("e2e-slow", "1.0.0"),
        ("e2e-typed", "1.0.0"),
    ]
    assert listed["e2e-echo", "1.0.0"] == ["double", "shout"]
    assert listed["e2e-gated", "1.0.0"] == ["after-gate", "wait-for-gate"]  # only its own


def test_workflows_table(cli: Invoke) -> None:
    lines = cli("workflows").stdout.splitlines()

    assert lines[0].split() == ["workflow", "version", "tasks", "module"]
    assert [line.split()[:2] for line in lines[1:3]] == [
        ["e2e-boom", "1.0.0"],
        ["e2e-echo", "1.0.0"],
    ]
    assert "explode" in lines[1] and lines[1].split()[-1] == "e2e_flows"


def test_workflows_of_an_empty_directory(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    outcome = cli("workflows", "--workflows-dir", "empty")

    assert outcome.code == 0 and outcome.stdout == "", outcome
    assert "no workflows" in outcome.stderr
    assert cli("workflows", "--json", "--workflows-dir", "empty").json() == []


# -- worker ---------------------------------------------------------------------------


def test_worker_until_idle_executes_the_pending_runs_and_exits_0(aiki: Invoke, cli: Invoke) -> None:
    good = [start(cli, "e2e-echo@1.0.0", "--input-json", f'{{"n": {n}}}') for n in range(3)]
    bad = start(cli, "e2e-boom@1.0.0")

    outcome = aiki("worker", "--until-idle", "--poll-interval", "0.05")

    assert outcome.code == 0, outcome
    assert outcome.stdout == "" and "Traceback" not in outcome.stderr
    results = [cli("status", run_id, "--json").json()["result"] for run_id in good]
    assert results == [{"doubled": 2 * n, "word": "HI!"} for n in range(3)]
    assert status_of(cli, bad) == "failed"


def test_worker_with_no_workflows_exits_2(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert_one_error(cli("worker", "--workflows-dir", "empty", "--until-idle"), 2, "empty")


def test_cancel_of_a_running_run_is_honoured_by_the_worker(
    cli: Invoke, spawn: Spawn, tmp_path: Path
) -> None:
    text, marker, gate = gate_input(tmp_path)
    run_id = start(cli, "e2e-gated@1.0.0", "--input-json", text)
    worker = spawn("worker", "--until-idle", "--poll-interval", "0.05")
    wait_for(marker.exists, "the gated task to start")

    assert cli("cancel", run_id).code == 0
    assert cli("status", run_id, "--json").json()["cancel_requested"] is True
    gate.touch()
    worker.communicate(timeout=SUBPROCESS_TIMEOUT)

    assert worker.returncode == 0
    document = cli("status", run_id, "--json").json()
    assert document["status"] == "cancelled"
    assert [t["name"] for t in document["tasks"]] == ["wait-for-gate"]  # after-gate never ran
