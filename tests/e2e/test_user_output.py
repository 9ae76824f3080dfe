"""What workflow code prints never reaches stdout (issue 15.1): `id=$(aiki start …)` and
`aiki … --json | jq` hold whatever the user's modules, workflows and tasks print.

Every test runs the real executable on `tests/e2e/chatty`, a workflow that prints at
import, in the workflow, in a plain-function task (a thread, which also writes to file
descriptor 1 directly) and in an async task; the lines must all land on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .support import SUBPROCESS_TIMEOUT, Invoke, Outcome

CHATTY = Path(__file__).parent / "chatty"
AT_IMPORT = ["chatty: imported"]
WHILE_RUNNING = [
    "chatty: in the workflow",
    "chatty: in the thread task",
    "chatty: written to fd 1",
    "chatty: in the async task",
]


def chatty(aiki: Invoke, *args: str) -> Outcome:
    return aiki("--workflows-dir", str(CHATTY), *args)


def chatter(outcome: Outcome) -> list[str]:
    """The lines chatty printed, in the order they were printed."""
    return [line for line in outcome.stderr.splitlines() if line.startswith("chatty: ")]


def json_tool(text: str) -> object:
    """`text` as `python -m json.tool` reads it: the pipe of the issue, literally."""
    done = subprocess.run(
        [sys.executable, "-m", "json.tool"],
        input=text,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert done.returncode == 0, (done.stderr, text)
    return json.loads(done.stdout)


def test_start_wait_prints_the_run_id_alone_and_the_chatter_on_stderr(aiki: Invoke) -> None:
    outcome = chatty(aiki, "start", "chatty@1.0.0", "--input-json", '{"n": 2}', "--wait")

    assert outcome.code == 0, outcome
    outcome.run_id()  # stdout is the id on one line, nothing else
    assert chatter(outcome) == AT_IMPORT + WHILE_RUNNING


def test_start_wait_json_parses_with_the_chatter_on_stderr(aiki: Invoke) -> None:
    outcome = chatty(aiki, "start", "chatty@1.0.0", "--input-json", '{"n": 2}', "--wait", "--json")

    assert outcome.code == 0, outcome
    document = json_tool(outcome.stdout)
    assert isinstance(document, dict)
    assert (document["status"], document["result"]) == ("completed", {"n": 30})
    assert chatter(outcome) == AT_IMPORT + WHILE_RUNNING


def test_start_without_wait_prints_the_run_id_alone(aiki: Invoke) -> None:
    outcome = chatty(aiki, "start", "chatty@1.0.0")

    assert outcome.code == 0, outcome
    outcome.run_id()
    assert chatter(outcome) == AT_IMPORT


def test_workflows_json_parses_with_the_chatter_on_stderr(aiki: Invoke) -> None:
    outcome = chatty(aiki, "workflows", "--json")

    assert outcome.code == 0, outcome
    assert json_tool(outcome.stdout) == [
        {"workflow": "chatty", "version": "1.0.0", "tasks": ["chatty-async", "chatty-sync"]}
    ]
    assert chatter(outcome) == AT_IMPORT


def test_a_worker_writes_the_chatter_to_its_log_and_nothing_to_stdout(aiki: Invoke) -> None:
    run_id = chatty(aiki, "start", "chatty@1.0.0").run_id()

    outcome = chatty(aiki, "worker", "--until-idle")

    assert outcome.code == 0, outcome
    assert outcome.stdout == ""
    assert chatter(outcome) == AT_IMPORT + WHILE_RUNNING
    assert json.loads(chatty(aiki, "status", run_id, "--json").stdout)["status"] == "completed"


def test_schedule_add_prints_the_schedule_id_alone(aiki: Invoke) -> None:
    outcome = chatty(aiki, "schedule", "add", "chatty@1.0.0", "--every", "1h", "--id", "talk")

    assert outcome.code == 0, outcome
    assert outcome.stdout == "talk\n"
    assert chatter(outcome) == AT_IMPORT


def test_start_wait_with_stdout_closed_runs_and_exits_0(aiki: Invoke) -> None:
    """`aiki start … >&-`: Python starts with no sys.stdout; the run still runs."""
    outcome = aiki(
        "--workflows-dir",
        str(CHATTY),
        "start",
        "chatty@1.0.0",
        "--wait",
        before_exec=lambda: os.close(1),
    )

    assert (outcome.code, outcome.stdout) == (0, ""), outcome
    assert "chatty: in the async task" in chatter(outcome)
