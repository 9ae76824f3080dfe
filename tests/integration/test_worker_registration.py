"""Workers registering and signing off while other processes list the live workers
(issue 15, item 2): a worker is listed for as long as it is registered, a fresh id is never
refused as "already in use", and once every worker has signed off, nothing is left in
`workers/`.

A reader once try-locked the lock file of a worker that had created it but not yet locked
it, took it for a dead worker's and unlinked it: that worker then locked a file nobody
could see, and was invisible for good (or, when the reader held the lock at that moment,
was refused). Registration now puts a file in place only once it is locked, and readers
never delete anything.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from aiki_cli.store.files import FileStore

from .harness import Process, Processes, Sandbox, wait_until

REGISTRANTS = 4
REGISTRATIONS = 250  # each; the race showed about twice per thousand registrations
POLLERS = 3


def actor(processes: Processes, tmp_path: Path, *args: str) -> Process:
    log = tmp_path / f"actor-{len(list(tmp_path.glob('actor-*')))}.log"
    command = [sys.executable, "-m", "tests.integration._roster_actor", *args]
    return processes.spawn(command, env=dict(os.environ), cwd=Path.cwd(), log=log)


def result(process: Process) -> dict[str, object]:
    assert process.wait() == 0, process.output()
    lines = process.output().splitlines()
    assert lines, f"process {process.pid} printed nothing"
    document: dict[str, object] = json.loads(lines[-1])
    return document


@pytest.mark.slow
def test_registrations_racing_readers_are_all_seen_and_leave_nothing(
    tmp_path: Path, processes: Processes
) -> None:
    root, stop = tmp_path / "runs", tmp_path / "stop"
    pollers = [actor(processes, tmp_path, "poll", str(root), str(stop)) for _ in range(POLLERS)]
    registrants = [
        actor(processes, tmp_path, "register", str(root), f"w{n}", str(REGISTRATIONS))
        for n in range(REGISTRANTS)
    ]
    outcomes = [result(process) for process in registrants]
    stop.touch()
    polls = [result(process)["polls"] for process in pollers]

    assert [outcome["registered"] for outcome in outcomes] == [REGISTRATIONS] * REGISTRANTS
    assert [outcome["refused"] for outcome in outcomes] == [[]] * REGISTRANTS
    assert [outcome["unseen"] for outcome in outcomes] == [[]] * REGISTRANTS
    assert all(isinstance(count, int) and count > 0 for count in polls), polls
    assert FileStore(root).live_workers() == []
    assert os.listdir(root / "workers") == []  # no stale entry once all signed off


@pytest.mark.slow
def test_a_killed_workers_files_are_not_listed_and_the_next_worker_clears_them(
    sandbox: Sandbox,
) -> None:
    worker = sandbox.worker()
    folder = sandbox.runs / "workers"
    wait_until(lambda: len(FileStore(sandbox.runs).live_workers()) == 1, "the worker", alive=worker)
    worker.kill9()

    left = sorted(os.listdir(folder))
    assert [name.rpartition(".")[2] for name in left] == ["json", "lock"]
    store = FileStore(sandbox.runs)
    assert store.live_workers() == []
    assert sorted(os.listdir(folder)) == left  # readers delete nothing
    assert store.roster.gone() == [left[0].rpartition(".")[0]]

    with store.register_worker("next", {"id": "next"}):
        assert sorted(os.listdir(folder)) == ["next.json", "next.lock"]
        assert store.live_workers() == [{"id": "next"}]
    assert os.listdir(folder) == []
