"""`aiki start`, through the real executable: what it prints, and how `--wait` exits."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .support import SUBPROCESS_TIMEOUT, Invoke, assert_one_error, gate_input, run_dirs, wait_for

STATUS_FIELDS = {"id", "workflow", "version", "status", "input", "created_at", "updated_at"}


def test_start_prints_the_run_id_alone_and_leaves_the_run_pending(
    aiki: Invoke, cli: Invoke, runs: Path
) -> None:
    outcome = aiki("start", "e2e-echo@1.0.0", "--input-json", '{"n": 2}')

    assert outcome.code == 0, outcome
    run_id = outcome.run_id()
    assert run_id in outcome.stderr  # the note for people names it, on stderr
    assert run_dirs(runs) == [run_id]
    info = cli("status", run_id, "--json").json()
    assert (info["status"], info["input"]) == ("pending", {"n": 2})


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_start_reads_the_input_from_a_file_or_stdin(
    aiki: Invoke, cli: Invoke, tmp_path: Path, source: str
) -> None:
    (tmp_path / "in.json").write_text('{"n": 21, "word": "ok"}')
    args = ["--input", "in.json"] if source == "file" else ["--input", "-"]
    stdin = '{"n": 21, "word": "ok"}' if source == "stdin" else ""
    invoke = aiki if source == "stdin" else cli  # a real pipe for stdin; a file is a file

    outcome = invoke("start", "e2e-echo@1.0.0", *args, "--wait", "--json", stdin=stdin)

    assert outcome.code == 0, outcome
    document = outcome.json()
    assert document["input"] == {"n": 21, "word": "ok"}
    assert document["result"] == {"doubled": 42, "word": "OK!"}


def test_start_wait_executes_the_run_in_process_and_exits_0(aiki: Invoke, cli: Invoke) -> None:
    outcome = aiki("start", "e2e-echo@1.0.0", "--input-json", '{"n": 4}', "--wait")

    assert outcome.code == 0, outcome
    run_id = outcome.run_id()
    assert "Traceback" not in outcome.stderr
    info = cli("status", run_id, "--json").json()
    assert (info["status"], info["result"]) == ("completed", {"doubled": 8, "word": "HI!"})


def test_start_wait_exits_1_with_one_line_naming_the_error(aiki: Invoke, cli: Invoke) -> None:
    outcome = aiki("start", "e2e-boom@1.0.0", "--input-json", '{"n": 3}', "--wait")

    assert outcome.code == 1, outcome
    run_id = outcome.run_id()
    assert outcome.stderr.count("\n") == 1, outcome.stderr
    assert outcome.stderr.startswith(f"error: run {run_id} failed")
    assert "explode" in outcome.stderr and "ValueError: kaboom 3" in outcome.stderr
    assert cli("status", run_id, "--json").json()["status"] == "failed"


def test_start_wait_exits_3_when_the_run_is_cancelled_while_it_runs(
    aiki: Invoke,
    cli: Invoke,
    spawn: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    text, marker, gate = gate_input(tmp_path)
    runner = spawn("start", "e2e-gated@1.0.0", "--input-json", text, "--wait")
    wait_for(marker.exists, "the gated task to start")
    assert runner.stdout is not None
    run_id = runner.stdout.readline().strip()  # printed before the run started

    cancel = aiki("cancel", run_id)
    assert cancel.code == 0, cancel
    assert "requested" in cancel.stderr  # the run is executing: its worker must stop it
    gate.touch()
    out, err = runner.communicate(timeout=SUBPROCESS_TIMEOUT)

    assert runner.returncode == 3, (out, err)
    assert out == ""  # the id was read above; nothing followed it
    assert err.splitlines() == [f"error: run {run_id} was cancelled"]
    info = cli("status", run_id, "--json").json()
    assert info["status"] == "cancelled"
    assert [(t["name"], t["status"]) for t in info["tasks"]] == [("wait-for-gate", "completed")]


def test_start_wait_exits_5_when_the_timeout_is_too_short(aiki: Invoke, cli: Invoke) -> None:
    began = time.monotonic()
    outcome = aiki(
        "start", "e2e-slow@1.0.0", "--input-json", '{"seconds": 20}', "--wait", "--timeout", "0.3"
    )

    assert time.monotonic() - began < 10
    assert outcome.code == 5, outcome
    run_id = outcome.run_id()
    [line] = outcome.stderr.splitlines()
    assert line.startswith(f"error: run {run_id} is still ") and line.endswith("after 0.3s")
    assert cli("status", run_id, "--json").json()["status"] not in ("completed", "failed")


def test_start_wait_timeout_leaves_at_once_though_a_thread_still_runs_the_task(
    aiki: Invoke, cli: Invoke, tmp_path: Path
) -> None:
    # Python joins task threads at exit: without a hard exit the command would stay until
    # the task ended, with its run already back in the queue for another worker.
    text, marker, gate = gate_input(tmp_path)
    try:
        outcome = aiki(
            "start", "e2e-gated-sync@1.0.0", "--input-json", text, "--wait", "--timeout", "0.5"
        )
        assert outcome.code == 5, outcome
        assert marker.exists() and not (tmp_path / "finished").exists()
        info = cli("status", outcome.run_id(), "--json").json()
        assert info["status"] == "pending"  # back in the queue, for a worker to finish
    finally:
        gate.touch()


def test_start_wait_json_prints_the_status_document(aiki: Invoke) -> None:
    outcome = aiki(
        "start", "e2e-echo@1.0.0", "--input-json", '{"n": 1, "word": "yo"}', "--wait", "--json"
    )

    assert outcome.code == 0, outcome
    document = outcome.json()  # stdout is the document and nothing else
    assert STATUS_FIELDS | {"result", "tasks"} <= document.keys()
    assert (document["workflow"], document["version"]) == ("e2e-echo", "1.0.0")
    assert (document["status"], document["result"]) == ("completed", {"doubled": 2, "word": "YO!"})
    assert [(t["name"], t["status"], t["attempts"]) for t in document["tasks"]] == [
        ("double", "completed", 1),
        ("shout", "completed", 1),
    ]


def test_start_wait_json_of_a_failed_run_has_the_error_and_exits_1(cli: Invoke) -> None:
    outcome = cli("start", "e2e-boom@1.0.0", "--wait", "--json")

    assert outcome.code == 1, outcome
    document = outcome.json()
    assert document["status"] == "failed" and "result" not in document
    assert document["error"]["type"] == "TaskFailed"
    assert "kaboom 7" in document["error"]["message"]
    assert len(outcome.stderr.splitlines()) == 1


def test_the_same_idempotency_key_starts_one_run(aiki: Invoke, cli: Invoke, runs: Path) -> None:
    args = ("start", "e2e-echo@1.0.0", "--input-json", '{"n": 1}', "--idempotency-key", "k-1")

    first, second = cli(*args), aiki(*args)

    assert first.code == second.code == 0, (first, second)
    assert first.run_id() == second.run_id()
    assert run_dirs(runs) == [first.run_id()]


def test_the_same_idempotency_key_with_another_input_exits_2(
    aiki: Invoke, cli: Invoke, runs: Path
) -> None:
    run_id = cli(
        "start", "e2e-echo@1.0.0", "--input-json", '{"n": 1}', "--idempotency-key", "k-2"
    ).run_id()

    outcome = aiki(
        "start", "e2e-echo@1.0.0", "--input-json", '{"n": 2}', "--idempotency-key", "k-2"
    )

    assert_one_error(outcome, 2, "k-2", run_id, "input")
    assert run_dirs(runs) == [run_id]


def test_the_same_idempotency_key_accepts_the_same_input_written_differently(
    cli: Invoke, runs: Path
) -> None:
    first = cli(
        "start",
        "e2e-echo@1.0.0",
        "--input-json",
        '{"n": 1, "word": "a"}',
        "--idempotency-key",
        "k-3",
    )
    second = cli(
        "start",
        "e2e-echo@1.0.0",
        "--input-json",
        '{ "word":"a","n":1 }',
        "--idempotency-key",
        "k-3",
    )

    assert first.run_id() == second.run_id()
    assert run_dirs(runs) == [first.run_id()]


def test_start_json_without_wait_prints_the_pending_run(cli: Invoke) -> None:
    document = cli("start", "e2e-echo@1.0.0", "--input-json", "[]", "--json").json()

    assert json.dumps(document["input"]) == "[]"
    assert (document["status"], document["tasks"]) == ("pending", [])
