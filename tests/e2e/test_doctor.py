"""`aiki doctor [--repair] [--json]`: checks a store, says what is wrong and how to fix it,
rebuilds the derived indexes with --repair, and exits 1 while damage remains.

Stores are set up in-process (CliRunner, or the Python API for a sleeping run); the
real executable runs doctor where its exit code and output are the point.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import Client, Run, RunStatus, Worker, workflow
from aiki_cli.engine.transitions import transition
from aiki_cli.errors import AikiError
from aiki_cli.model.journal import summarize
from aiki_cli.store.files import FileStore
from aiki_cli.values.clock import SystemClock

from .support import Invoke, finished, start

nap = workflow(name="doctor-nap")


@nap.v("1.0.0")
async def nap_v1(input: Any, run: Run) -> str:
    await run.sleep("nap", "1h")
    return "rested"


def sleeping(runs: Path) -> str:
    """A run parked asleep for an hour (with its marker in timers/)."""
    client = Client(runs)
    run_id = client.create(nap_v1, None).id
    asyncio.run(Worker(client, [nap_v1]).run(until_idle=True))
    assert asyncio.run(client.get(run_id)).status == "sleeping"
    return run_id


def aged(path: Path) -> None:
    """Make a file look written two minutes ago (older than a write in progress)."""
    past = time.time() - 120
    os.utime(path, (past, past))


def pending(cli: Invoke, runs: Path) -> str:
    """A pending run that is not being started right now."""
    run_id = start(cli, "e2e-echo@1.0.0")
    aged(runs / "run" / run_id / "run.json")
    return run_id


def half_done(cli: Invoke, runs: Path) -> str:
    """A run whose worker stopped after its first task: running, in ready/."""
    run_id = finished(cli, "e2e-echo@1.0.0")
    journal = runs / "run" / run_id / "journal.jsonl"
    journal.write_bytes(b"".join(journal.read_bytes().splitlines(keepends=True)[:3]))
    (runs / "ready" / run_id).touch()
    return run_id


def doctor(invoke: Invoke, *args: str) -> tuple[int, dict[str, Any]]:
    outcome = invoke("doctor", "--json", *args)
    assert "Traceback" not in outcome.stderr, outcome.stderr
    return outcome.code, json.loads(outcome.stdout)


def kinds(report: dict[str, Any]) -> list[str]:
    return [finding["kind"] for finding in report["findings"]]


def worker_finishes(cli: Invoke) -> None:
    assert cli("worker", "--until-idle", "--poll-interval", "0.01").code == 0


# -- a healthy store ----------------------------------------------------------------


def test_a_healthy_store_passes(aiki: Invoke, cli: Invoke, runs: Path) -> None:
    finished(cli, "e2e-echo@1.0.0")
    finished(cli, "e2e-boom@1.0.0")
    pending(cli, runs)
    sleeping(runs)

    outcome = aiki("doctor")
    assert outcome.code == 0, outcome
    assert outcome.stdout.splitlines() == [f"checked 4 runs in {runs}", "healthy"]
    code, report = doctor(cli)
    assert code == 0
    assert report == {"store": str(runs), "healthy": True, "runs": 4, "busy": [], "findings": []}


def test_a_store_that_does_not_exist_is_healthy_and_stays_absent(cli: Invoke, runs: Path) -> None:
    code, report = doctor(cli, "--repair")
    assert (code, report["runs"], report["findings"]) == (0, 0, [])
    assert not runs.exists()


def test_a_runs_directory_that_is_a_file_is_bad_usage(aiki: Invoke, runs: Path) -> None:
    runs.write_text("not a store\n")
    outcome = aiki("doctor")
    assert (outcome.code, outcome.stdout) == (2, "")
    assert (
        outcome.stderr
        == f"error: the runs directory {runs} is a file; pass --runs-dir a directory\n"
    )


def test_a_run_a_worker_holds_is_left_alone(aiki: Invoke, cli: Invoke, runs: Path) -> None:
    run_id = half_done(cli, runs)
    claim = FileStore(runs).claim(run_id)
    assert claim is not None
    try:
        code, report = doctor(aiki)
    finally:
        claim.release()
    assert (code, report["busy"], report["findings"]) == (0, [run_id], [])


# -- derived indexes: found, then rebuilt by --repair -----------------------------------


def unqueued_pending(cli: Invoke, runs: Path) -> str:
    """A keyed start of an older aiki killed before it queued the run: repeating it returns
    the run, so queueing it executes it once."""
    run_id = start(cli, "e2e-echo@1.0.0", "--idempotency-key", "order-9")
    aged(runs / "run" / run_id / "run.json")
    (runs / "ready" / run_id).unlink()
    return "not-queued"


def unqueued_running(cli: Invoke, runs: Path) -> str:
    run_id = half_done(cli, runs)
    (runs / "ready" / run_id).unlink()
    return "not-queued"


def ended_but_queued(cli: Invoke, runs: Path) -> str:
    (runs / "ready" / finished(cli, "e2e-echo@1.0.0")).touch()
    return "stale-ready"


def ended_with_a_timer(cli: Invoke, runs: Path) -> str:
    run_id = finished(cli, "e2e-echo@1.0.0")
    (runs / "timers" / f"{int(time.time() * 1000):015d}-run-{run_id}").touch()
    return "stale-timer"


def asleep_without_a_timer(cli: Invoke, runs: Path) -> str:
    sleeping(runs)
    for marker in (runs / "timers").iterdir():
        marker.unlink()
    return "timer-missing"


def missing_from_the_list(cli: Invoke, runs: Path) -> str:
    run_id = finished(cli, "e2e-echo@1.0.0")
    log = runs / "index" / "created.log"
    log.write_text("".join(line for line in log.read_text().splitlines(True) if run_id not in line))
    return "not-listed"


def ready_for_nobody(cli: Invoke, runs: Path) -> str:
    finished(cli, "e2e-echo@1.0.0")
    (runs / "ready" / "01m8aaaaaaaaaaaaaaaaaaaaaa").touch()
    return "orphan-ready"


def key_for_nobody(cli: Invoke, runs: Path) -> str:
    finished(cli, "e2e-echo@1.0.0")
    (runs / "index" / "keys" / ("0" * 64)).write_text("01m8aaaaaaaaaaaaaaaaaaaaaa")
    return "orphan-key"


def key_lost(cli: Invoke, runs: Path) -> str:
    finished(cli, "e2e-echo@1.0.0", "--idempotency-key", "order-7")
    for key in (runs / "index" / "keys").iterdir():
        key.unlink()
    return "key-missing"


def orphaned_lock(cli: Invoke, runs: Path) -> str:
    finished(cli, "e2e-echo@1.0.0")
    (runs / "run" / "01m8aaaaaaaaaaaaaaaaaaaaaa").mkdir()
    (runs / "run" / "01m8aaaaaaaaaaaaaaaaaaaaaa" / "lock").touch()
    return "orphan"


BREAKAGE = [
    unqueued_pending,
    unqueued_running,
    ended_with_a_timer,
    asleep_without_a_timer,
    missing_from_the_list,
    key_for_nobody,
    key_lost,
    orphaned_lock,
]


@pytest.mark.parametrize("breakage", BREAKAGE, ids=lambda breakage: breakage.__name__)
def test_a_broken_index_is_found_and_repaired(
    cli: Invoke, runs: Path, breakage: Callable[[Invoke, Path], str]
) -> None:
    kind = breakage(cli, runs)
    before = {path: path.read_bytes() for path in runs.glob("run/*/*.j*")}

    outcome = cli("doctor")
    assert outcome.code == 1, outcome
    assert outcome.stdout.splitlines()[-1].endswith("`aiki doctor --repair` fixes 1"), outcome
    code, report = doctor(cli)
    assert (code, kinds(report)) == (1, [kind]), report
    finding = report["findings"][0]
    assert finding["repairable"] and finding["damage"] and not finding["repaired"]

    code, report = doctor(cli, "--repair")
    assert (code, kinds(report)) == (0, [kind]), report
    assert report["findings"][0]["repaired"] and report["healthy"]
    assert doctor(cli) == (0, {**report, "findings": []})
    assert before == {path: path.read_bytes() for path in runs.glob("run/*/*.j*")}, (
        "run.json and journals are never changed"
    )
    worker_finishes(cli)  # and the store works: whatever was pending completes
    statuses = {row["status"] for row in cli("list", "--json").json()}
    assert statuses <= {"completed", "sleeping"}, statuses


def test_an_ended_run_still_queued_is_a_note_a_worker_settles(cli: Invoke, runs: Path) -> None:
    kind = ended_but_queued(cli, runs)  # its worker died before it told the parent
    code, report = doctor(cli, "--repair")
    assert (code, kinds(report)) == (0, [kind]), report
    finding = report["findings"][0]
    assert not finding["damage"] and not finding["repairable"], "a worker has steps to redo"
    worker_finishes(cli)
    assert doctor(cli)[1]["findings"] == []


def test_a_repaired_timer_wakes_the_run_when_it_is_due(cli: Invoke, runs: Path) -> None:
    asleep_without_a_timer(cli, runs)
    assert doctor(cli, "--repair")[0] == 0
    (marker,) = (runs / "timers").iterdir()
    due = int(marker.name.partition("-")[0]) / 1000
    assert abs(due - (time.time() + 3600)) < 60


def test_a_repaired_key_returns_the_run_it_started(cli: Invoke, runs: Path) -> None:
    key_lost(cli, runs)
    (run_id,) = (row["id"] for row in cli("list", "--json").json())
    assert doctor(cli, "--repair")[0] == 0
    assert start(cli, "e2e-echo@1.0.0", "--idempotency-key", "order-7") == run_id


# -- parents and children that disagree --------------------------------------------------


@workflow(name="doctor-parent").v("1.0.0")
async def parent_v1(input: Any, run: Run) -> str:
    try:
        return str(await (await nap_v1.start(run, None)).wait_for_completion())
    except AikiError as error:
        return type(error).__name__


def family(runs: Path) -> tuple[str, str]:
    """A parent awaiting its child, which sleeps for an hour."""
    client = Client(runs)
    parent_id = client.create(parent_v1, None).id
    asyncio.run(Worker(client, [parent_v1, nap_v1]).run(until_idle=True))
    info = asyncio.run(client.get(parent_id))
    assert info.status == "awaiting_child"
    return parent_id, info.children[0]


def cancelled_alone(runs: Path, run_id: str) -> None:
    """Journal the run's cancel and nothing after it, as a process killed right after the
    journal entry did before cancels queued the run first."""
    claim = FileStore(runs).claim(run_id)
    assert claim is not None
    try:
        old = summarize(claim.spec, claim.entries).status
        transition(claim, SystemClock(), old, RunStatus.CANCELLED, reason="cancelled")
        claim.set_timer(None)
        claim.set_ready(False)
    finally:
        claim.release()


@pytest.mark.parametrize("who", ["child", "parent"])
def test_a_cancel_that_stopped_halfway_is_found_and_repair_has_a_worker_finish_it(
    cli: Invoke, runs: Path, who: str
) -> None:
    parent_id, child_id = family(runs)
    cancelled_alone(runs, child_id if who == "child" else parent_id)

    code, report = doctor(cli)
    kind = "parent-stranded" if who == "child" else "children-alive"
    assert (code, kinds(report)) == (1, [kind]), report
    assert doctor(cli, "--repair")[0] == 0
    asyncio.run(Worker(Client(runs), [parent_v1, nap_v1]).run(until_idle=True))
    parent, child = (cli("status", run, "--json").json() for run in (parent_id, child_id))
    if who == "child":
        assert (parent["status"], parent["result"]) == ("completed", "ChildCancelled")
    assert child["status"] == "cancelled"
    assert doctor(cli) == (
        0,
        {"store": str(runs), "healthy": True, "runs": 2, "busy": []} | {"findings": []},
    )


# -- notes: harmless leftovers ---------------------------------------------------------


def test_leftovers_are_notes_and_repair_removes_them(cli: Invoke, runs: Path) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")
    staging = runs / "tmp" / "01m8aaaaaaaaaaaaaaaaaaaaaa"
    staging.mkdir()
    (staging / "run.json").write_text("{")
    temp = runs / "run" / run_id / ".timer.0123456789ab.tmp"
    temp.touch()
    fresh = runs / "tmp" / "01m8bbbbbbbbbbbbbbbbbbbbbb"  # a start in progress, maybe
    fresh.mkdir()
    for path in (staging / "run.json", staging, temp):
        aged(path)
    (runs / "workers" / "gone-1.lock").touch()
    (runs / "workers" / "gone-1.json").write_text("{}")

    code, report = doctor(cli)
    assert code == 0 and report["healthy"], report
    assert sorted(kinds(report)) == ["leftover", "leftover", "worker-gone"]
    assert not any(finding["damage"] for finding in report["findings"])

    assert doctor(cli, "--repair")[0] == 0
    assert not staging.exists() and not temp.exists() and fresh.exists()
    assert sorted(os.listdir(runs / "workers")) == []
    assert doctor(cli)[1]["findings"] == []


def test_an_unkeyed_start_killed_before_queueing_is_a_note_and_never_executes(
    cli: Invoke, runs: Path
) -> None:
    """Issue 16.9: nobody was given the run's id, so its user started again; queueing it
    would execute the start twice. Markers naming no run or schedule (what a killed start
    or `schedule add` leaves), or an ended run still queued (a worker killed before it took
    it out), are harmless too: workers pass them over or remove them."""
    abandoned = pending(cli, runs)
    (runs / "ready" / abandoned).unlink()
    ended_but_queued(cli, runs)  # its worker was killed before it took the run out
    (runs / "ready" / "01m8aaaaaaaaaaaaaaaaaaaaaa").touch()
    (runs / "timers" / "000000000000001-run-01m8aaaaaaaaaaaaaaaaaaaaaa").touch()
    (runs / "timers" / "000000000000001-schedule-gone").touch()
    code, report = doctor(cli)
    assert code == 0 and report["healthy"], report
    kinds_found = ["abandoned-start", "orphan-ready", "orphan-timer", "orphan-timer", "stale-ready"]
    assert sorted(kinds(report)) == kinds_found
    assert not any(finding["damage"] for finding in report["findings"]), report
    repairable = {f["kind"] for f in report["findings"] if f["repairable"]}
    assert repairable == {"abandoned-start", "orphan-ready", "orphan-timer"}, report

    assert doctor(cli, "--repair")[0] == 0
    assert not (runs / "run" / abandoned).exists()
    assert len(os.listdir(runs / "ready")) == 1 and os.listdir(runs / "timers") == []
    worker_finishes(cli)  # an ended run left queued: a worker finishes what followed it
    assert os.listdir(runs / "ready") == []
    assert [row["status"] for row in cli("list", "--json").json()] == ["completed"]
    assert kinds(doctor(cli)[1]) == ["stale-index"]  # a note: `list` skips the line


def test_a_delayed_start_waiting_for_its_time_is_healthy(cli: Invoke, runs: Path) -> None:
    """Parked until its due time with nothing journaled yet: not an abandoned start."""
    run_id = start(cli, "e2e-echo@1.0.0", "--delay", "1h")
    worker_finishes(cli)
    assert not (runs / "ready" / run_id).exists()
    aged(runs / "run" / run_id / "run.json")
    code, report = doctor(cli, "--repair")
    assert (code, kinds(report)) == (0, []), report
    assert (runs / "run" / run_id / "run.json").exists()


def test_a_torn_last_line_is_a_note_and_repair_cuts_it(cli: Invoke, runs: Path) -> None:
    run_id = half_done(cli, runs)
    journal = runs / "run" / run_id / "journal.jsonl"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"type":"task_comp')

    code, report = doctor(cli)
    assert (code, kinds(report)) == (0, ["torn-tail"])
    assert doctor(cli, "--repair")[0] == 0
    assert journal.read_bytes() == whole
    worker_finishes(cli)
    assert cli("status", run_id, "--json").json()["status"] == "completed"


# -- damage a person must decide on ----------------------------------------------------


def test_garbage_in_a_journal_is_located_and_left_for_a_person(
    aiki: Invoke, cli: Invoke, runs: Path
) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")
    other = pending(cli, runs)
    journal = runs / "run" / run_id / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    offset = len(b"".join(lines[:3]))
    journal.write_bytes(b"".join([*lines[:3], b"garbage\n", *lines[3:]]))
    damaged = journal.read_bytes()

    outcome = aiki("doctor", "--repair")
    assert outcome.code == 1, outcome
    assert f"{journal} line 4 (at byte {offset}) is not a journal entry" in outcome.stdout
    command = f"truncate -s {offset} {journal}"
    assert f"`{command}`" in outcome.stdout
    assert outcome.stdout.splitlines()[-1] == "1 problem(s) remain"
    assert journal.read_bytes() == damaged, "--repair never edits a journal"
    code, report = doctor(cli)
    assert code == 1
    (finding,) = report["findings"]
    assert finding == {
        "kind": "journal-damaged",
        "problem": finding["problem"],
        "fix": finding["fix"],
        "run_id": run_id,
        "path": str(journal),
        "repairable": False,
        "damage": True,
        "repaired": False,
    }

    os.truncate(journal, offset)  # what doctor said to do
    code, report = doctor(cli, "--repair")  # the run is running again: it is queued
    assert (code, kinds(report)) == (0, ["not-queued"]), report
    worker_finishes(cli)
    for each in (run_id, other):
        assert cli("status", each, "--json").json()["status"] == "completed"
    assert doctor(cli) == (0, {**report, "findings": []})


def test_a_journal_whose_statuses_do_not_follow_is_damage(cli: Invoke, runs: Path) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")
    journal = runs / "run" / run_id / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines, lines[-1]]))  # completed twice

    code, report = doctor(cli)
    assert (code, kinds(report)) == (1, ["journal-damaged"])
    problem = report["findings"][0]["problem"]
    assert f"line {len(lines) + 1}" in problem and "but the run was completed" in problem
    offset = len(b"".join(lines))
    assert f"truncate -s {offset} {journal}" in report["findings"][0]["fix"]


def test_a_damaged_run_json_is_damage(aiki: Invoke, cli: Invoke, runs: Path) -> None:
    run_id = finished(cli, "e2e-echo@1.0.0")
    (runs / "run" / run_id / "run.json").write_text('{"format": 1, "id": "')

    outcome = aiki("doctor")
    assert outcome.code == 1
    assert f"{runs / 'run' / run_id / 'run.json'} cannot be read" in outcome.stdout
    assert "restore it from a backup" in outcome.stdout
    assert doctor(cli, "--repair")[0] == 1
