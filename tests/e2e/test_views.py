"""What `list`, `status`, `history` and `worker` show people, through the real `aiki`:
ids whole at 80 columns, the width of the terminal looked at, the last tasks of a long
run, one row per retried task, tracebacks of failures and what parked runs wait for."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiki_cli.cli.width import DEFAULT_WIDTH, choose_width

from .support import AIKI, SUBPROCESS_TIMEOUT, Invoke, Outcome

WORKFLOWS = Path(__file__).parent / "views_workflows"
LONG_REF = "e2e-order-processing@10.20.30"


@pytest.fixture(autouse=True)
def views_workflows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(WORKFLOWS))


def started(aiki: Invoke, ref: str, data: object, *flags: str) -> Outcome:
    return aiki("start", ref, "--input-json", json.dumps(data), *flags)


def parked_runs(aiki: Invoke) -> dict[str, str]:
    """A sleeping, an awaiting and two ended runs, by id: their `workflow@version`."""
    refs: dict[str, str] = {}
    for ref, data in (
        (LONG_REF, {}),
        ("e2e-keyerror@1.0.0", {}),
        ("e2e-parked@1.0.0", {"kind": "sleep"}),
        ("e2e-parked@1.0.0", {"kind": "event"}),
    ):
        refs[started(aiki, ref, data).run_id()] = ref
    assert aiki("worker", "--until-idle").code == 0
    return refs


# -- 15.3: ids whole at 80 columns; the width of the terminal looked at -----------------


def test_list_at_80_columns_keeps_ids_and_refs_whole_one_line_per_run(aiki: Invoke) -> None:
    refs = parked_runs(aiki)

    outcome = aiki("list", env={"COLUMNS": "80"})

    assert outcome.code == 0, outcome
    lines = outcome.stdout.splitlines()
    assert len(lines) == 1 + len(refs), outcome.stdout  # nothing wraps onto a second line
    assert "…" not in outcome.stdout
    assert max(len(line) for line in lines) <= 80, outcome.stdout
    for line in lines[1:]:
        run_id = line.split()[0]
        assert line.split()[1] == refs[run_id], line  # the id and its ref whole, side by side


def test_list_narrower_than_the_ids_still_never_cuts_them(aiki: Invoke) -> None:
    refs = parked_runs(aiki)

    lines = aiki("list", env={"COLUMNS": "30"}).stdout.splitlines()

    assert {line.split()[0]: line.split()[1] for line in lines[1:]} == refs


@pytest.mark.parametrize(
    ("columns", "terminal", "width"),
    [
        ("80", 120, 80),  # set on purpose: it wins
        (" 90 ", None, 90),
        ("", 120, 120),  # piped (`aiki status ID | less`): the terminal's width
        ("abc", 70, 70),
        ("0", None, DEFAULT_WIDTH),  # no terminal at all (a CI log)
        ("-3", None, DEFAULT_WIDTH),
    ],
)
def test_the_width_off_a_terminal(columns: str, terminal: int | None, width: int) -> None:
    assert choose_width(columns, terminal) == width


@pytest.fixture
def terminal() -> Iterator[int]:
    """A pseudo-terminal 70 columns wide; yields the descriptor a child can use."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 70, 0, 0))
    yield follower
    os.close(follower)
    os.close(leader)


def piped(args: list[str], *, stderr: int, before_exec: object = None) -> str:
    """`aiki` with stdout piped (as into `less`), COLUMNS unset; its stdout."""
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    done = subprocess.run(
        [*AIKI, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        timeout=SUBPROCESS_TIMEOUT,
        start_new_session=True,
        preexec_fn=before_exec,  # type: ignore[arg-type]
        check=False,
    )
    return done.stdout.decode()


@pytest.mark.parametrize("where", ["stderr", "controlling terminal"])
def test_piped_output_takes_the_width_of_the_terminal(
    aiki: Invoke, terminal: int, where: str
) -> None:
    run_id = started(aiki, "e2e-many@1.0.0", {"tasks": 1, "note": "n" * 300}, "--wait").run_id()
    args = ["status", run_id]
    if where == "stderr":
        text = piped(args, stderr=terminal)
    else:  # stderr piped too: the terminal is found as the session's controlling one
        text = piped(
            args,
            stderr=subprocess.DEVNULL,
            before_exec=lambda: fcntl.ioctl(terminal, termios.TIOCSCTTY, 0),
        )

    lines = text.splitlines()
    assert run_id in text
    assert max(len(line) for line in lines) == 70, text  # 200 wide without the terminal
    assert max(len(line) for line in piped(args, stderr=subprocess.DEVNULL).splitlines()) > 70


# -- 15.5: the last tasks of a long run; one row per retried task ----------------------


def task_rows(text: str) -> list[list[str]]:
    """The rows of the tasks table in a `status` panel, as their words."""
    words = [line.strip("│ ").split() for line in text.splitlines()]
    return [row for row in words if len(row) > 3 and row[0].isdigit() and row[1] in TASKS]


TASKS = ("step", "flaky")


def test_a_long_run_shows_its_last_20_tasks_and_how_many_came_before(aiki: Invoke) -> None:
    waited = started(aiki, "e2e-many@1.0.0", {"tasks": 60}, "--wait")
    run_id = waited.run_id()
    status = aiki("status", run_id)
    everything = aiki("status", run_id, "--all")

    for text in (waited.stderr, status.stdout):
        assert "… 40 earlier tasks (--all)" in text, text
        assert [row[0] for row in task_rows(text)] == [str(n) for n in range(41, 61)]
    assert "earlier tasks" not in everything.stdout
    assert [row[0] for row in task_rows(everything.stdout)] == [str(n) for n in range(1, 61)]
    assert len(aiki("status", run_id, "--json").json()["tasks"]) == 60


def test_history_shows_its_last_entries_and_all_of_them_on_request(aiki: Invoke) -> None:
    run_id = started(aiki, "e2e-many@1.0.0", {"tasks": 60}, "--wait").run_id()
    entries = len(aiki("history", run_id, "--json").json())

    short = aiki("history", run_id).stdout
    full = aiki("history", run_id, "--all").stdout

    assert f"… {entries - 40} earlier entries (--all)" in short
    assert len(short.splitlines()) == 1 + 1 + 40  # the note, the header, 40 entries
    assert len(full.splitlines()) == 1 + entries and "pending → running" in full


def test_a_task_run_again_by_aiki_retry_is_one_row_counting_its_attempts(
    aiki: Invoke, tmp_path: Path
) -> None:
    data = {"marker": str(tmp_path / "tries"), "fail_times": 2}
    run_id = started(aiki, "e2e-flaky@1.0.0", data, "--wait").run_id()
    for _ in range(2):
        assert aiki("retry", run_id).code == 0
        assert aiki("worker", "--until-idle").code == 0

    rows = task_rows(aiki("status", run_id).stdout)
    document = aiki("status", run_id, "--json").json()

    assert [row[:4] for row in rows] == [["1", "flaky", "completed", "3"]]
    assert [(t["name"], t["status"], t["attempts"]) for t in document["tasks"]] == [
        ("flaky", "completed", 3)
    ]
    assert (tmp_path / "tries").read_text().count("x") == 3  # three executions, one row


# -- 15.4: the traceback of a failure -----------------------------------------------------


def test_a_failed_task_shows_its_traceback_everywhere(aiki: Invoke) -> None:
    waited = aiki("start", "e2e-keyerror@1.0.0", "--wait", "--json")
    assert waited.code == 1, waited
    document = waited.json()
    run_id = document["id"]
    [call] = document["tasks"]

    traceback = call["error"]["traceback"]
    assert "in _lookup" in traceback and 'return order["orderData"]' in traceback
    assert traceback.endswith("KeyError: 'orderData'")
    assert "in keyerror_v1" in document["error"]["traceback"]  # where the workflow awaited it
    status = aiki("status", run_id).stdout
    assert "traceback of task read-order" in status and 'order["orderData"]' in status
    assert 'order["orderData"]' in aiki("history", run_id).stdout
    assert aiki("status", run_id, "--json").json()["tasks"][0]["error"] == call["error"]


def test_the_worker_logs_one_line_per_failed_run_without_verbose(aiki: Invoke) -> None:
    run_ids = [started(aiki, "e2e-keyerror@1.0.0", {}).run_id() for _ in range(2)]
    started(aiki, "e2e-many@1.0.0", {"tasks": 1})

    outcome = aiki("worker", "--until-idle")

    assert outcome.code == 0, outcome
    failures = [line for line in outcome.stderr.splitlines() if " failed: " in line]
    assert len(failures) == 2, outcome.stderr
    for run_id in run_ids:
        [line] = [line for line in failures if run_id in line]
        assert "e2e-keyerror@1.0.0" in line and "KeyError: 'orderData'" in line


# -- 15.7: what a parked run waits for ---------------------------------------------------


def test_parked_runs_say_what_they_wait_for(aiki: Invoke) -> None:
    refs = parked_runs(aiki)
    by_kind = {
        row["waiting_for"]["kind"]: row
        for row in aiki("list", "--json").json()
        if row["waiting_for"]
    }

    assert sorted(by_kind) == ["event", "sleep"]
    event, sleep = by_kind["event"], by_kind["sleep"]
    assert (event["status"], event["waiting_for"]["name"]) == ("awaiting_event", "approved")
    assert (sleep["status"], sleep["waiting_for"]["name"]) == ("sleeping", "cool-off")
    assert sleep["waiting_for"]["due"] == sleep["due_at"]
    assert aiki("status", event["id"], "--json").json()["waiting_for"] == event["waiting_for"]
    assert "waiting for  event approved" in aiki("status", event["id"]).stdout
    listed = aiki("list").stdout
    assert "event approved" in listed and "sleep cool-off" in listed
    ended = [
        row for row in aiki("list", "--json").json() if row["status"] in ("completed", "failed")
    ]
    assert len(ended) == 2 and all(row["waiting_for"] is None for row in ended)
    assert set(refs) == {row["id"] for row in aiki("list", "--json").json()}
