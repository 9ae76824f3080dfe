"""`aiki schedule add|list|pause|resume|remove`, and a worker firing what they set up.

Schedules are set up in-process (CliRunner); the exit codes and a worker starting runs on
an interval go through the real executable.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aiki_cli import Client, FileStore
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.model.schedule import Schedule
from aiki_cli.testing import ManualClock
from aiki_cli.worker.scheduler import fire

from .support import WORKFLOWS, Invoke, assert_one_error, wait_for

Spawn = Callable[..., subprocess.Popen[str]]


def add(cli: Invoke, *args: str) -> dict[str, Any]:
    """Add a schedule in-process and return its document."""
    outcome = cli("schedule", "add", *args, "--json")
    assert outcome.code == 0, outcome
    document: dict[str, Any] = outcome.json()
    return document


def listed(cli: Invoke) -> list[dict[str, Any]]:
    outcome = cli("schedule", "list", "--json")
    assert outcome.code == 0, outcome
    documents: list[dict[str, Any]] = outcome.json()
    return documents


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def timers(runs: Path) -> list[str]:
    folder = runs / "timers"
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


# -- add ------------------------------------------------------------------------------


def test_add_prints_the_id_alone_and_the_schedule_lists(cli: Invoke, runs: Path) -> None:
    outcome = cli("schedule", "add", "e2e-echo@1.0.0", "--every", "10m")

    assert outcome.code == 0, outcome
    schedule_id = outcome.stdout.strip()
    assert outcome.stdout == schedule_id + "\n"
    assert schedule_id.startswith("e2e-echo-") and len(schedule_id) == len("e2e-echo-") + 6
    assert "every 10m" in outcome.stderr
    (document,) = listed(cli)
    assert document["id"] == schedule_id
    assert (document["workflow"], document["version"]) == ("e2e-echo", "1.0.0")
    assert (document["every"], document["cron"], document["overlap"]) == (600.0, None, "skip")
    assert (document["paused"], document["last_run_id"]) == (False, None)
    assert when(document["next_due"]) - when(document["created_at"]) == timedelta(minutes=10)
    assert [name.partition("-")[2] for name in timers(runs)] == [f"schedule-{schedule_id}"]


def test_add_a_cron_schedule_with_a_zone_input_and_policy(cli: Invoke) -> None:
    document = add(
        cli,
        "e2e-typed@1.0.0",
        "--id",
        "morning",
        "--cron",
        "0 9 * * *",
        "--tz",
        "Europe/Paris",
        "--input-json",
        '{"sku": "A-1", "quantity": 2}',
        "--overlap",
        "cancel_previous",
    )

    assert document["id"] == "morning"
    assert (document["cron"], document["timezone"]) == ("0 9 * * *", "Europe/Paris")
    assert document["input"] == {"sku": "A-1", "quantity": 2}
    assert document["overlap"] == "cancel_previous"
    due = when(document["next_due"])
    assert (due.astimezone(ZoneInfo("Europe/Paris")).hour, due.minute) == (9, 0)
    assert timedelta(0) < due - when(document["created_at"]) <= timedelta(days=1)
    assert listed(cli) == [document]


def test_add_reads_the_input_from_a_file_or_stdin(cli: Invoke, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"n": 4}')
    from_file = add(cli, "e2e-echo@1.0.0", "--every", "1h", "--input", "in.json")
    from_stdin = cli(
        "schedule", "add", "e2e-echo@1.0.0", "--every", "1h", "-i", "-", "--json", stdin='{"n": 5}'
    )

    assert from_file["input"] == {"n": 4}
    assert from_stdin.json()["input"] == {"n": 5}


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--cron", "0 9 * *"], ["'0 9 * *' is not a cron expression", "0 9 * * *"]),
        (["--cron", "0 0 31 2 *"], ["never fires"]),
        (["--cron", "0 9 * * *", "--tz", "Mars/Base"], ["'Mars/Base' is not a time zone"]),
        (["--every", "10 parsecs"], ["--every", "is not like '30s'"]),
        (["--every", "0s"], ["--every must be above zero"]),
        (["--every", "500ms"], ["--every must be at least 1s"]),
        (["--every", "1m", "--tz", "UTC"], ["--tz applies to --cron"]),
        ([], ["exactly one of --cron EXPR or --every DURATION"]),
        (["--cron", "* * * * *", "--every", "1m"], ["exactly one of"]),
        (["--every", "1m", "--overlap", "sometimes"], ["--overlap", "sometimes"]),
        (["--every", "1m", "--id", "../etc"], ["schedule id '../etc' must start with"]),
        (["--every", "1m", "--input-json", "{nope"], ["--input-json is not valid JSON"]),
        (["--every", "1m", "--input", "missing.json"], ["input file missing.json does not exist"]),
    ],
)
def test_a_bad_add_exits_2_with_one_line_and_writes_nothing(
    cli: Invoke, runs: Path, args: list[str], fragments: list[str]
) -> None:
    outcome = cli("schedule", "add", "e2e-echo@1.0.0", *args)

    assert_one_error(outcome, 2, *fragments)
    assert not runs.exists()


def test_the_executable_refuses_a_bad_cron_in_one_line(aiki: Invoke, runs: Path) -> None:
    outcome = aiki("schedule", "add", "e2e-echo@1.0.0", "--cron", "every morning")

    assert_one_error(outcome, 2, "'every morning' is not a cron expression")
    assert not runs.exists()


def test_input_failing_the_workflows_model_exits_2(aiki: Invoke, runs: Path) -> None:
    outcome = aiki("schedule", "add", "e2e-typed@1.0.0", "--every", "1m", "--input-json", "{}")

    assert_one_error(outcome, 2, "input of workflow e2e-typed@1.0.0 is invalid", "sku")
    assert not runs.exists()


def test_an_unknown_workflow_exits_4_naming_the_known_ones(aiki: Invoke, runs: Path) -> None:
    outcome = aiki("schedule", "add", "nope@1.0.0", "--every", "1m")

    assert_one_error(outcome, 4, "unknown workflow 'nope@1.0.0'", "e2e-echo@1.0.0")
    assert not runs.exists()


def test_a_malformed_reference_exits_2(cli: Invoke) -> None:
    assert_one_error(
        cli("schedule", "add", "e2e-echo", "--every", "1m"), 2, "not of the form name@version"
    )


def test_an_id_already_taken_exits_2(cli: Invoke) -> None:
    first = add(cli, "e2e-echo@1.0.0", "--every", "1m", "--id", "same")

    outcome = cli("schedule", "add", "e2e-echo@2.0.0", "--every", "5m", "--id", "same")

    assert_one_error(outcome, 2, "schedule 'same' already exists")
    assert listed(cli) == [first]


# -- list, pause, resume, remove ------------------------------------------------------


def test_list_shows_a_table_or_says_there_is_none(cli: Invoke) -> None:
    empty = cli("schedule", "list")
    assert (empty.code, empty.stdout) == (0, "")
    assert "no schedules" in empty.stderr
    assert listed(cli) == []
    add(cli, "e2e-echo@1.0.0", "--every", "90m", "--id", "often")
    add(cli, "e2e-echo@2.0.0", "--cron", "0 9 * * 1-5", "--tz", "Asia/Tokyo", "--id", "weekday")

    table = cli("schedule", "list", env={"COLUMNS": "120"}).stdout  # wide enough for one line

    header, often, weekday = table.splitlines()
    assert header.split()[:4] == ["id", "workflow", "when", "overlap"]
    assert often.split()[:5] == ["often", "e2e-echo@1.0.0", "every", "1h30m", "skip"]
    assert "0 9 * * 1-5 (Asia/Tokyo)" in weekday and "active" in weekday


def test_pause_stops_the_timer_and_resume_restarts_it(cli: Invoke, runs: Path) -> None:
    add(cli, "e2e-echo@1.0.0", "--every", "1m", "--id", "tick")
    assert [name.endswith("-schedule-tick") for name in timers(runs)] == [True]

    paused = cli("schedule", "pause", "tick")
    assert paused.code == 0 and "paused schedule tick" in paused.stderr, paused
    assert listed(cli)[0]["paused"] is True
    assert timers(runs) == []
    assert "paused" in cli("schedule", "list").stdout
    assert "already paused" in cli("schedule", "pause", "tick").stderr

    resumed = cli("schedule", "resume", "tick")
    assert resumed.code == 0 and "resumed schedule tick" in resumed.stderr, resumed
    (document,) = listed(cli)
    assert document["paused"] is False
    assert when(document["next_due"]) > datetime.now().astimezone()
    assert [name.endswith("-schedule-tick") for name in timers(runs)] == [True]
    assert "is not paused" in cli("schedule", "resume", "tick").stderr


def test_remove_deletes_the_schedule_and_its_timer(cli: Invoke, runs: Path) -> None:
    add(cli, "e2e-echo@1.0.0", "--every", "1m", "--id", "gone")
    add(cli, "e2e-echo@1.0.0", "--every", "1m", "--id", "kept")

    outcome = cli("schedule", "remove", "gone")

    assert outcome.code == 0 and "removed schedule gone" in outcome.stderr, outcome
    assert [document["id"] for document in listed(cli)] == ["kept"]
    assert [name.rpartition("-schedule-")[2] for name in timers(runs)] == ["kept"]


@pytest.mark.parametrize("command", ["pause", "resume", "remove"])
@pytest.mark.parametrize("schedule_id", ["nope", "../../etc/passwd"])
def test_an_unknown_schedule_exits_4(cli: Invoke, command: str, schedule_id: str) -> None:
    add(cli, "e2e-echo@1.0.0", "--every", "1m", "--id", "real")

    outcome = cli("schedule", command, schedule_id)

    assert_one_error(outcome, 4, f"no schedule {schedule_id!r}", "aiki schedule list")
    assert [document["id"] for document in listed(cli)] == ["real"]


def test_the_executable_exits_4_for_an_unknown_schedule(aiki: Invoke) -> None:
    assert_one_error(aiki("schedule", "pause", "nope"), 4, "no schedule 'nope'")


def test_schedule_without_a_command_shows_its_help(aiki: Invoke) -> None:
    outcome = aiki("schedule")

    assert outcome.code == 0, outcome
    for command in ("add", "list", "pause", "resume", "remove"):
        assert command in outcome.stdout


# -- firing ---------------------------------------------------------------------------


def test_a_worker_starts_runs_of_an_every_second_schedule(
    aiki: Invoke, cli: Invoke, spawn: Spawn, runs: Path
) -> None:
    added = aiki("schedule", "add", "e2e-echo@1.0.0", "--every", "1s", "--input-json", '{"n": 3}')
    assert added.code == 0, added
    schedule_id = added.stdout.strip()

    spawn("worker", "--poll-interval", "0.05")

    def completed() -> list[str]:
        return [run["id"] for run in cli("list", "--status", "completed", "--json").json()]

    # The first occurrence is due a second after `add`, the next one a second later.
    wait_for(lambda: len(completed()) >= 2, "two scheduled runs to complete", timeout=10)
    done = completed()
    store = FileStore(runs)
    keys = [store.read_run(run_id)[0].idempotency_key or "" for run_id in done]
    assert all(key.startswith(f"schedule:{schedule_id}:") for key in keys), keys
    assert len(set(keys)) == len(keys)
    assert cli("status", done[-1], "--json").json()["result"] == {"doubled": 6, "word": "HI!"}
    assert listed(cli)[0]["last_run_id"] in set(completed())


def test_two_workers_firing_the_same_occurrence_start_one_run(tmp_path: Path) -> None:
    registry = load_workflows(WORKFLOWS)
    clock = ManualClock(datetime.now().astimezone())
    store = FileStore(tmp_path / "runs")
    one, two = Client(store, clock=clock), Client(FileStore(tmp_path / "runs"), clock=clock)
    schedule = Schedule(
        id="shared",
        workflow="e2e-echo",
        version="1.0.0",
        every=60,
        overlap="allow",
        created_at=clock.now(),
        next_due=clock.now() + timedelta(minutes=1),
    )
    store.save_schedule(schedule)
    clock.advance(60)

    fired = [asyncio.run(fire(client, schedule, registry)) for client in (one, two)]

    (run,) = list(store.list_runs())
    assert fired[0] == fired[1] == store.schedules()[0]
    assert fired[0].last_run_id == run.id
    assert store.read_run(run.id)[0].idempotency_key == schedule.idempotency_key(schedule.next_due)
