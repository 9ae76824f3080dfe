"""Clients and workers SIGKILLed at every file-system call of one store operation, and
the store heals (issue 16.8, 16.9).

`killpoint.py` runs `aiki` and SIGKILLs it just before its N-th change of a file (the
kill points: a kill before a read, a sync or a lock leaves what a kill before the next
change leaves); each test iterates N over every change the operation makes (until the
command runs to its end), each time on a fresh store. After each kill it checks:

- doctor's verdict is the truth: the store is healthy (what a kill leaves is at most a
  note: a marker naming nothing, a staging directory, a listing of a run never made);
- it heals by itself: a worker (`run(until_idle=True)`, in this process) finds and
  finishes whatever the killed command committed — nothing is left queued, parked or
  unfired that it should have taken;
- or on repeating the command, which is then as if the kill never happened;
- nothing executes twice: the task body appends a line to a counter file per execution.

What a kill may not do is decide the outcome of an unkeyed start or send after the
moment it committed: then the work happens once (and a user who repeats an unkeyed start
asked for a second run). Before that moment nothing of it ever executes, even after
`doctor --repair`.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from aiki_cli import Client, Worker
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.model.entry import EventReceived, TaskCompleted
from aiki_cli.model.schedule import Schedule
from aiki_cli.store.files import FileStore
from aiki_cli.store.files.doctor import examine
from aiki_cli.testing import ManualClock

from .killpoint import KILLED, fork_aiki

HERE = Path(__file__).parent / "windows"
MOST_CALLS = 400  # no operation here makes more: a loop that never ends fails instead


class Killer:
    """`(killer)(store, n, *args)` runs `aiki ARGS` on `store` through the kill-point
    server of `killpoint.py`, SIGKILLed before its n-th change of a file (0: never)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, store: Path, kill_at: int, *args: str) -> Outcome:
        out, err = self.folder / "out.txt", self.folder / "err.txt"
        argv = ["--runs-dir", str(store), "--workflows-dir", str(HERE), *args]
        code, _ = fork_aiki(argv, kill_at or None, cwd=self.folder, env={}, log=out, err=err)
        return Outcome(code, out.read_text(), err.read_text())


class Outcome(NamedTuple):
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def aiki(tmp_path: Path) -> Killer:
    return Killer(tmp_path)


def killed(outcome: Outcome) -> bool:
    if outcome.code == KILLED:
        assert outcome.stdout == "", outcome  # what it prints comes after its last write
        return True
    assert outcome.code == 0, outcome
    return False


def work(store: Path, clock: ManualClock | None = None) -> None:
    """A worker takes everything there is to take, then stops."""
    client = Client(store, clock=clock)
    versions = list(load_workflows(HERE).values())
    asyncio.run(Worker(client, versions, poll_interval=0.01).run(until_idle=True))


def healthy(store: Path, why: str) -> None:
    report = examine(FileStore(store))
    assert report.healthy, (why, [(f.kind, f.problem) for f in report.remaining])


def executions(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def runs_in(store: Path) -> list[str]:
    folder = store / "run"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def statuses(store: Path) -> list[str]:
    client = Client(store)
    return [str(asyncio.run(client.get(run_id)).status) for run_id in runs_in(store)]


def sweep(check: Any) -> int:
    """Call `check(n)` for n = 1, 2, ... until it reports the command ran to its end."""
    for kill_at in range(1, MOST_CALLS):
        if not check(kill_at):
            return kill_at - 1
    raise AssertionError(f"the command made more than {MOST_CALLS} file calls")


# -- start (16.9) -----------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_an_unkeyed_start_killed_anywhere_runs_once_or_never(tmp_path: Path, aiki: Killer) -> None:
    def check(kill_at: int) -> bool:
        store, counter = tmp_path / f"s{kill_at}", tmp_path / f"c{kill_at}"
        args = ["start", "win@1.0.0", "--input-json", json.dumps({"counter": str(counter)})]
        if not killed(aiki(store, kill_at, *args)):
            return False
        made = runs_in(store)  # moved into run/: committed, and so queued
        healthy(store, f"after a kill at call {kill_at}")
        work(store)
        assert executions(counter) == len(made) <= 1, kill_at
        assert not killed(aiki(store, 0, *args))  # the user starts again
        examine(FileStore(store), repair=True)  # and repairs: nothing more executes
        work(store)
        assert executions(counter) == len(made) + 1, kill_at
        assert statuses(store) == ["completed"] * (len(made) + 1), kill_at
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 10


@pytest.mark.timeout(600)
@pytest.mark.parametrize("worker_first", [True, False], ids=["worker-first", "repeat-first"])
def test_a_keyed_start_killed_anywhere_runs_exactly_once(
    tmp_path: Path, aiki: Killer, worker_first: bool
) -> None:
    def check(kill_at: int) -> bool:
        store, counter = tmp_path / f"s{kill_at}", tmp_path / f"c{kill_at}"
        args = ["start", "win@1.0.0", "--input-json", json.dumps({"counter": str(counter)})]
        args += ["--idempotency-key", "order-1"]
        if not killed(aiki(store, kill_at, *args)):
            return False
        made = runs_in(store)
        healthy(store, f"after a kill at call {kill_at}")
        if worker_first:
            work(store)  # heals by itself: a run moved in is executed
            assert executions(counter) == len(made) <= 1, kill_at
        again = aiki(store, 0, *args)
        assert not killed(again)
        if worker_first and made:
            assert again.stdout.strip() == made[0], kill_at  # the key's run, not a new one
        work(store)
        assert executions(counter) == 1, kill_at
        assert statuses(store) == ["completed"], kill_at  # a run that lost the key is gone
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 10


# -- send (16.9) ------------------------------------------------------------------------


def parked(tmp_path: Path) -> tuple[Path, str, Path]:
    """A store with one run awaiting event `go`; the run's id; its counter."""
    store, counter = tmp_path / "template", tmp_path / "counter"
    client = Client(store)
    version = load_workflows(HERE)["win@2.0.0"]
    run_id = client.create(version, {"counter": str(counter)}).id
    work(store)
    assert statuses(store) == ["awaiting_event"]
    return store, run_id, counter


def events(store: Path, run_id: str) -> int:
    entries = FileStore(store).read_run(run_id)[1]
    return sum(isinstance(entry, EventReceived) for entry in entries)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("reference", [True, False], ids=["reference-id", "no-reference"])
def test_a_send_killed_anywhere_is_delivered_by_a_worker_or_not_at_all(
    tmp_path: Path, aiki: Killer, reference: bool
) -> None:
    template, run_id, counter = parked(tmp_path)
    args = ["send", run_id, "go", "--data-json", '"once"']
    args += ["--reference-id", "r-1"] if reference else []

    def check(kill_at: int) -> bool:
        store = tmp_path / f"s{kill_at}"
        shutil.copytree(template, store)
        counter.unlink(missing_ok=True)
        if not killed(aiki(store, kill_at, *args)):
            return False
        inbox = store / "run" / run_id / "inbox"
        letters = len(list(inbox.glob("[!.]*.json")))  # not a temp file being written
        healthy(store, f"after a kill at call {kill_at}")
        work(store)  # a letter that is in gets delivered, by the worker alone
        assert events(store, run_id) == executions(counter) == letters, kill_at
        if reference and not letters:
            assert not killed(aiki(store, 0, *args))  # repeating the send delivers it
            work(store)
        if reference:
            assert events(store, run_id) == executions(counter) == 1, kill_at
            assert statuses(store) == ["completed"], kill_at
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 5


@pytest.mark.timeout(600)
def test_a_repeated_send_with_a_reference_id_after_a_kill_delivers_once(
    tmp_path: Path, aiki: Killer
) -> None:
    template, run_id, counter = parked(tmp_path)
    args = ["send", run_id, "go", "--data-json", '"once"', "--reference-id", "r-1"]

    def check(kill_at: int) -> bool:
        store = tmp_path / f"s{kill_at}"
        shutil.copytree(template, store)
        counter.unlink(missing_ok=True)
        if not killed(aiki(store, kill_at, *args)):
            return False
        assert not killed(aiki(store, 0, *args))
        work(store)
        assert events(store, run_id) == executions(counter) == 1, kill_at
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 5


# -- schedules (16.8) -------------------------------------------------------------------


def later(hours: float) -> ManualClock:
    return ManualClock(datetime.now(UTC) + timedelta(hours=hours))


def armed(store: Path, schedule_id: str) -> bool:
    """Whether the schedule has a marker in timers/, as its `.timer` record names it."""
    record = store / "schedules" / f"{schedule_id}.timer"
    return record.exists() and (store / "timers" / record.read_text().strip()).exists()


@pytest.mark.timeout(600)
def test_a_schedule_add_killed_anywhere_fires_or_can_be_added_again(
    tmp_path: Path, aiki: Killer
) -> None:
    def check(kill_at: int) -> bool:
        store, counter = tmp_path / f"s{kill_at}", tmp_path / f"c{kill_at}"
        args = ["schedule", "add", "win@1.0.0", "--id", "hourly", "--every", "1h"]
        args += ["--input-json", json.dumps({"counter": str(counter)})]
        if not killed(aiki(store, kill_at, *args)):
            return False
        saved = (store / "schedules" / "hourly.json").exists()
        healthy(store, f"after a kill at call {kill_at}")
        work(store, later(1.5))  # a worker, once the schedule is due
        assert executions(counter) == int(saved), kill_at  # a saved schedule fires
        assert not killed(aiki(store, 0, *args))  # repeating the command works
        work(store, later(2.5))
        assert executions(counter) == int(saved) + 1, kill_at  # once per due time
        assert armed(store, "hourly"), kill_at
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 5


@pytest.mark.timeout(900)
def test_a_worker_killed_anywhere_while_firing_leaves_the_schedule_firing(
    tmp_path: Path, aiki: Killer
) -> None:
    def check(kill_at: int) -> bool:
        store, counter = tmp_path / f"s{kill_at}", tmp_path / f"c{kill_at}"
        due(store, counter)
        if not killed(aiki(store, kill_at, "worker", "--until-idle")):
            return False
        before = executions(counter)
        journaled = any(completed(store))
        healthy(store, f"after a kill at call {kill_at}")
        work(store)
        # One run for the due time; its task body ran again only if the kill cut it off
        # after it ran and before its result was journaled.
        assert len(runs_in(store)) == 1, kill_at
        assert statuses(store) == ["completed"], kill_at
        assert executions(counter) == before + (0 if journaled else 1), kill_at
        assert armed(store, "hourly"), kill_at
        work(store, later(1.2))  # and it fires at its next due time
        assert len(runs_in(store)) == 2, kill_at
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 10


def due(store: Path, counter: Path) -> None:
    """A store with an hourly schedule due half an hour ago."""
    now = datetime.now(UTC)
    schedule = Schedule(
        id="hourly",
        workflow="win",
        version="1.0.0",
        every=3600,
        input={"counter": str(counter)},
        created_at=now - timedelta(hours=1.5),
        next_due=now - timedelta(hours=0.5),
    )
    FileStore(store).save_schedule(schedule)


def completed(store: Path) -> list[TaskCompleted]:
    found = []
    for run_id in runs_in(store):
        entries = FileStore(store).read_run(run_id)[1]
        found += [entry for entry in entries if isinstance(entry, TaskCompleted)]
    return found


def test_a_schedule_whose_next_timer_cannot_be_made_fires_again_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No inode left for the next timer marker: firing fails and is tried again, so the
    schedule keeps its due timer, and fires on once the file system has room again."""
    store, counter = tmp_path / "runs", tmp_path / "counter"
    due(store, counter)
    real_open = os.open

    def no_inodes(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if "/timers/" in str(path) and flags & os.O_CREAT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", no_inodes)
        work(store)
    assert len(runs_in(store)) == 1  # the due time's run started (and ran) all the same
    assert any(armed_at_or_before(store, datetime.now(UTC)))  # the due timer is still there

    work(store)  # room again: the due time is fired again, and starts nothing new
    assert len(runs_in(store)) == 1 and executions(counter) == 1
    assert armed(store, "hourly")
    work(store, later(1.2))
    assert len(runs_in(store)) == 2 and executions(counter) == 2
    healthy(store, "in the end")


def armed_at_or_before(store: Path, moment: datetime) -> list[str]:
    """The schedule timers due at or before `moment`."""
    limit = moment.timestamp() * 1000
    names = os.listdir(store / "timers")
    return [name for name in names if "-schedule-" in name and int(name[:15]) <= limit]


def lose_timer(store: Path) -> None:
    """What a `schedule add` or a firing of an older aiki left when killed midway."""
    for name in os.listdir(store / "timers"):
        (store / "timers" / name).unlink()
    (store / "schedules" / "hourly.timer").unlink()


def test_a_live_worker_rearms_a_schedule_that_lost_its_timer(tmp_path: Path) -> None:
    store, counter = tmp_path / "runs", tmp_path / "counter"
    due(store, counter)
    lose_timer(store)
    assert not examine(FileStore(store)).healthy  # it would never fire again
    work(store)  # fires the due time once, and sets the next one
    assert len(runs_in(store)) == 1 and executions(counter) == 1
    assert armed(store, "hourly")
    work(store)
    assert len(runs_in(store)) == 1
    healthy(store, "once re-armed")


def test_repeating_schedule_add_sets_a_lost_timer(tmp_path: Path, aiki: Killer) -> None:
    store, counter = tmp_path / "runs", tmp_path / "counter"
    args = ["schedule", "add", "win@1.0.0", "--id", "hourly", "--every", "1h"]
    args += ["--input-json", json.dumps({"counter": str(counter)})]
    assert not killed(aiki(store, 0, *args))
    lose_timer(store)
    again = aiki(store, 0, *args)
    assert not killed(again) and again.stdout == "hourly\n"
    assert armed(store, "hourly")
    different = aiki(store, 0, *args[:-2], "--input-json", "{}")
    assert different.code == 2 and "already exists" in different.stderr
