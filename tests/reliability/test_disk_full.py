"""A full disk (ENOSPC), injected where aiki writes (`durable.failing_writes`).

- `aiki start` fails with one line and exit 1, and leaves nothing behind: no run in
  `list`, no run directory, no staging in tmp/, no idempotency key.
- A run executing when the disk fills stops with a clear error and is not failed: it stays
  running, its lock is free, and the worker tries it again (after its backoff) until the
  writes succeed. Then it completes: completed tasks do not run again, the interrupted
  one runs at least once, and no `except Exception` in the workflow saw the disk.
- A write the full disk cut short never leaves a torn line in the middle of a journal.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.cli.app import app
from aiki_cli.errors import StoreUnwritable
from aiki_cli.model.entry import Recovered, StatusChanged, TaskCompleted, parse_entry
from aiki_cli.model.status import RunStatus
from aiki_cli.store.files.lock import try_lock_dir
from aiki_cli.store.files.syncio import AppendLog, failing_writes
from aiki_cli.worker import loop as worker_module

E2E_WORKFLOWS = Path(__file__).parents[1] / "e2e" / "workflows"
FULL = "No space left on device; free some space and try again"

COUNTS: Counter[tuple[str, str]] = Counter()
GATES: dict[str, asyncio.Event] = {}


@task(name="df-first")
def first(input: dict[str, Any]) -> int:
    COUNTS[input["key"], "df-first"] += 1
    return 1


@task(name="df-gated")
async def gated(input: dict[str, Any]) -> int:
    """Waits for the test to open its gate (in the worker's event loop)."""
    COUNTS[input["key"], "df-gated"] += 1
    gate = GATES.get(input["key"])
    if gate is not None:
        await gate.wait()
    return 2


@task(name="df-last")
def last(input: dict[str, Any]) -> int:
    COUNTS[input["key"], "df-last"] += 1
    return 3


disk = workflow(name="df-steps")


@disk.v("1.0.0")
async def steps_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    key = input["key"]
    one = await first.start(run, {"key": key})
    try:
        two = await gated.start(run, {"key": key})
    except Exception as error:  # must not see a full disk: that is not the workflow's
        return {"caught": type(error).__name__}
    three = await last.start(run, {"key": key})
    return {"sum": one + two + three}


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    COUNTS.clear()
    GATES.clear()
    monkeypatch.setattr(worker_module, "_BROKEN_RUN_BACKOFF", 0.05)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def invoke(runs: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        ["--runs-dir", str(runs), "--workflows-dir", str(E2E_WORKFLOWS), *args],
        env={"COLUMNS": "200"},
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def contents(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def journal(runs: Path, run_id: str) -> bytes:
    return (runs / "run" / run_id / "journal.jsonl").read_bytes()


def parse_all(data: bytes) -> list[Any]:
    assert data == b"" or data.endswith(b"\n"), data[-80:]
    return [parse_entry(line) for line in data.splitlines()]


# -- aiki start -------------------------------------------------------------------------


# A start with a key writes three things: run.json (staged in tmp/), the key, the index.
@pytest.mark.parametrize("after", [0, 1, 2])
@pytest.mark.parametrize("partial", [False, True], ids=["refused", "cut-short"])
def test_start_on_a_full_disk_fails_in_one_line_and_leaves_nothing(
    runs: Path, after: int, partial: bool
) -> None:
    start = ("start", "e2e-echo@1.0.0", "--input-json", '{"n": 1}', "--idempotency-key", "k1")
    with failing_writes(errno.ENOSPC, after=after, partial=partial):
        code, out, err = invoke(runs, *start)
    assert (code, out) == (1, ""), err
    assert err.splitlines() == [f"error: cannot write to {runs}: {FULL}"]
    for folder in ("run", "tmp", "ready", "index/keys"):
        assert contents(runs / folder) == [], folder
    assert invoke(runs, "list", "--json")[:2] == (0, "[]\n")

    code, out, err = invoke(runs, *start)  # once there is room, the same start works
    assert code == 0, err
    run_id = out.strip()
    listed = json.loads(invoke(runs, "list", "--json")[1])
    assert [row["id"] for row in listed] == [run_id]
    assert contents(runs / "run") == [run_id]


def test_a_command_that_cannot_write_fails_in_one_line(runs: Path) -> None:
    code, out, err = invoke(runs, "start", "e2e-echo@1.0.0")
    run_id = out.strip()
    with failing_writes():
        code, out, err = invoke(runs, "cancel", run_id)
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: cannot write to {runs}: {FULL}"]
    assert invoke(runs, "status", run_id, "--json")[0] == 0


def test_a_worker_that_cannot_announce_itself_fails_in_one_line(runs: Path) -> None:
    with failing_writes():
        code, out, err = invoke(runs, "worker", "--until-idle")
    assert (code, out) == (1, "")
    assert err.splitlines() == [f"error: cannot write to {runs}: {FULL}"]
    assert contents(runs / "workers") == []


# -- a run executing when the disk fills ------------------------------------------------


def ftruncate_failing_once() -> Callable[[int, int], None]:
    """`os.ftruncate` that fails the first time: a write-back stuck for a moment."""
    real, calls = os.ftruncate, []

    def ftruncate(fd: int, size: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd, size)

    return ftruncate


async def wait_until(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waiting for {what}")
        await asyncio.sleep(0.005)


@pytest.mark.parametrize(
    ("partial", "stuck"),
    [(False, False), (True, False), (True, True)],
    ids=["refused", "cut-short", "cut-short-left-torn"],
)
def test_a_run_stops_when_the_disk_fills_and_completes_when_it_has_room(
    runs: Path,
    partial: bool,
    stuck: bool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `stuck`, the bytes a cut-short write left cannot be taken back at once: the
    next claim of the run, by the same worker, cuts them off before anything follows."""
    if stuck:
        monkeypatch.setattr(os, "ftruncate", ftruncate_failing_once())
    client = Client(runs)
    run_id = client.create(steps_v1, {"key": "full"}).id
    run_dir = runs / "run" / run_id

    async def scenario() -> None:
        GATES["full"] = asyncio.Event()
        worker = Worker(client, [disk], poll_interval=0.01)
        serving = asyncio.create_task(worker.run())
        await wait_until(lambda: COUNTS["full", "df-gated"] == 1, "the gated task")
        with failing_writes(errno.ENOSPC, partial=partial):
            GATES["full"].set()  # its result cannot be journaled
            await wait_until(lambda: not worker._active, "the run to stop")
            await asyncio.sleep(0.3)  # several retries, each failing
            stopped = journal(runs, run_id)
            info = await client.get(run_id)
            assert info.status == RunStatus.RUNNING, info  # not failed: waiting for room
            assert [task.status for task in info.tasks] == ["completed", "running"]
            held = try_lock_dir(run_dir)
            assert held is not None, "the stopped run holds no lock"
            held.release()
        await client.wait(run_id, timeout=10)
        worker.stop()
        await serving
        whole_lines = stopped[: stopped.rfind(b"\n") + 1]
        parse_all(whole_lines)  # only ever a torn last line, never one in the middle
        assert stuck or stopped == whole_lines, "a write cut short was taken back"

    with caplog.at_level(logging.ERROR, logger="aiki"):
        asyncio.run(scenario())

    info = asyncio.run(client.get(run_id))
    assert (info.status, info.result) == (RunStatus.COMPLETED, {"sum": 6})
    runs_of = {name: COUNTS["full", name] for name in ("df-first", "df-gated", "df-last")}
    assert runs_of == {"df-first": 1, "df-gated": 2, "df-last": 1}  # the interrupted one again
    entries = parse_all(journal(runs, run_id))
    assert not any(isinstance(entry, Recovered) for entry in entries), "no worker died"
    assert info.recoveries == 0
    completed = [entry.task for entry in entries if isinstance(entry, TaskCompleted)]
    assert completed == ["df-first", "df-gated", "df-last"]
    about = [record.getMessage() for record in caplog.records if run_id in record.getMessage()]
    assert len(about) == 1, about  # said once, not on every retry
    assert f"cannot write to {runs}: {FULL}" in about[0]
    assert not any(record.exc_info for record in caplog.records), "no traceback"


def test_other_runs_complete_once_the_disk_has_room(runs: Path) -> None:
    client = Client(runs)
    stuck = client.create(steps_v1, {"key": "stuck"}).id
    later = client.create(steps_v1, {"key": "later"}).id

    async def scenario() -> None:
        GATES["stuck"] = asyncio.Event()
        worker = Worker(client, [disk], poll_interval=0.01)
        serving = asyncio.create_task(worker.run())
        await wait_until(lambda: COUNTS["stuck", "df-gated"] == 1, "the gated task")
        await wait_until(lambda: COUNTS["later", "df-last"] == 1, "the other run")
        with failing_writes():
            GATES["stuck"].set()
            await wait_until(lambda: stuck not in worker._active, "the run to stop")
            await asyncio.sleep(0.1)
        third = client.create(steps_v1, {"key": "third"}).id
        for run_id in (stuck, later, third):
            await client.wait(run_id, timeout=10)
        worker.stop()
        await serving

    asyncio.run(scenario())
    for run_id in (stuck, later):
        assert asyncio.run(client.get(run_id)).result == {"sum": 6}


# -- the append log ---------------------------------------------------------------------


def test_an_append_cut_short_is_taken_back_and_the_next_starts_a_fresh_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log"
    log = AppendLog(path)
    log.append(b'{"n":1}\n')
    with failing_writes(partial=True), pytest.raises(OSError) as caught:
        log.append(b'{"n":2}\n')
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == b'{"n":1}\n'
    log.append(b'{"n":3}\n')
    log.close()
    assert path.read_bytes() == b'{"n":1}\n{"n":3}\n'


def test_a_log_that_cannot_be_taken_back_refuses_appends_until_reopened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log"
    log = AppendLog(path)
    log.append(b'{"n":1}\n')

    def no_room(fd: int, size: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch, failing_writes(partial=True), pytest.raises(OSError):
        patch.setattr(os, "ftruncate", no_room)
        log.append(b'{"n":2}\n')
    with pytest.raises(OSError, match="claim the run again"):
        log.append(b'{"n":3}\n')  # would land after the torn bytes
    log.close()
    assert path.read_bytes() == b'{"n":1}\n{"n"'  # a torn tail, for the next claim to cut


def test_a_claim_on_a_full_disk_reports_the_store_as_unwritable(runs: Path) -> None:
    client = Client(runs)
    run_id = client.create(steps_v1, {"key": "claim"}).id
    claim = client.store.claim(run_id)
    assert claim is not None
    with failing_writes(), pytest.raises(StoreUnwritable, match=FULL) as caught:
        claim.append(StatusChanged(at=claim.spec.created_at, old="pending", new="running"))
    claim.release()
    assert caught.value.location == str(runs)
    assert caught.value.exit_code == 1
