"""Torn and damaged run files (SPEC §4): a journal cut anywhere in its last line still
loads and resumes; a journal with garbage in its middle, or a truncated or invalid
run.json, makes that run `damaged` in `status`, `list` and the worker — which logs it once
and carries on — while the other runs of the store are unaffected.

Everything runs in this process (Client, Worker, the CLI through CliRunner) on a file
store in `tmp_path`, so trying every byte offset stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.cli.app import app
from aiki_cli.errors import RunDamaged
from aiki_cli.model.entry import TaskCompleted, parse_entry
from aiki_cli.model.status import RunStatus
from aiki_cli.worker import loop as worker_module

COUNTS: Counter[tuple[str, str]] = Counter()


@task(name="rd-first")
def first(input: dict[str, Any]) -> dict[str, Any]:
    COUNTS[input["key"], "rd-first"] += 1
    return {"one": 1}


@task(name="rd-second")
async def second(input: dict[str, Any]) -> dict[str, Any]:
    COUNTS[input["key"], "rd-second"] += 1
    return {"two": input["one"] + 1}


@task(name="rd-third")
def third(input: dict[str, Any]) -> dict[str, Any]:
    COUNTS[input["key"], "rd-third"] += 1
    return {"three": input["two"] + 1}


steps = workflow(name="rd-steps")


@steps.v("1.0.0")
async def steps_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    key = input["key"]
    one = await first.start(run, {"key": key})
    two = await second.start(run, {"key": key, **one})
    three = await third.start(run, {"key": key, **two})
    return {**one, **two, **three}


RESULT = {"one": 1, "two": 2, "three": 3}


@pytest.fixture(autouse=True)
def fresh_counts() -> None:
    COUNTS.clear()


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def client(runs: Path) -> Client:
    return Client(runs)


def finish(client: Client) -> None:
    """Run a worker in this process until nothing is left to do."""
    asyncio.run(Worker(client, [steps], poll_interval=0.01).run(until_idle=True))


def journal_of(runs: Path, run_id: str) -> Path:
    return runs / "run" / run_id / "journal.jsonl"


def parse_all(data: bytes) -> list[Any]:
    """Every line of a journal, each of which must be a whole entry."""
    assert data == b"" or data.endswith(b"\n"), data[-80:]
    return [parse_entry(line) for line in data.splitlines()]


def invoke(runs: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--runs-dir", str(runs), *args], env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# -- a torn last line, cut at every byte ---------------------------------------------


@pytest.fixture
def whole(client: Client, runs: Path) -> tuple[str, bytes]:
    """A completed run and its journal: running, three tasks started and completed, completed."""
    run_id = client.create(steps_v1, {"key": "cut"}).id
    finish(client)
    data = journal_of(runs, run_id).read_bytes()
    assert len(parse_all(data)) == 8
    return run_id, data


def resume_from(client: Client, runs: Path, run_id: str, cut: bytes) -> None:
    """Leave the journal as `cut`, let a worker resume the run, and check the outcome."""
    COUNTS.clear()
    journal_of(runs, run_id).write_bytes(cut)
    intact = cut[: cut.rfind(b"\n") + 1]
    client.store.mark_ready(run_id)
    finish(client)
    info = asyncio.run(client.get(run_id))
    assert (info.status, info.result) == (RunStatus.COMPLETED, RESULT), (len(cut), info)
    final = journal_of(runs, run_id).read_bytes()
    assert final.startswith(intact), len(cut)  # only the torn tail went
    parse_all(final)
    done = {e.task for e in parse_all(intact) if isinstance(e, TaskCompleted)}
    for name in ("rd-first", "rd-second", "rd-third"):
        assert COUNTS["cut", name] == (0 if name in done else 1), (len(cut), name, COUNTS)


def test_a_journal_cut_at_any_byte_loads_and_the_next_writer_starts_a_fresh_line(
    client: Client, runs: Path, whole: tuple[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What is checked is what readers see and where the next append lands, not what a
    # power cut keeps: fsync (milliseconds, here 1,400 times over) is skipped.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    run_id, data = whole
    path = journal_of(runs, run_id)
    for size in range(len(data) + 1):
        cut = data[:size]
        path.write_bytes(cut)
        intact = cut[: cut.rfind(b"\n") + 1]
        assert client.store.read_run(run_id)[1] == parse_all(intact), size
        claim = client.store.claim(run_id)
        assert claim is not None
        assert claim.entries == parse_all(intact), size
        claim.release()
        # What a worker resumes from depends on the whole lines alone: the rest is gone.
        assert path.read_bytes() == intact, size


def test_a_run_resumes_from_a_cut_anywhere_in_its_journals_last_line(
    client: Client, runs: Path, whole: tuple[str, bytes]
) -> None:
    run_id, data = whole
    last = data.rfind(b"\n", 0, len(data) - 1) + 1
    for size in range(last, len(data) + 1):
        resume_from(client, runs, run_id, data[:size])


def test_a_run_resumes_from_a_cut_after_any_of_its_lines(
    client: Client, runs: Path, whole: tuple[str, bytes]
) -> None:
    run_id, data = whole
    ends = [0] + [index + 1 for index, byte in enumerate(data) if byte == ord("\n")]
    for end in ends:
        resume_from(client, runs, run_id, data[:end])
        resume_from(client, runs, run_id, data[: end + 1])  # and one byte into the next


# -- damage: garbage in the middle, run.json cut short or invalid ----------------------


def garbage_in_the_middle(runs: Path, run_id: str) -> str:
    path = journal_of(runs, run_id)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:2], b"\x00\x17 not json {\n", *lines[2:]]))
    return f"{path} line 3 (at byte {len(lines[0]) + len(lines[1])})"


def run_json_cut_short(runs: Path, run_id: str) -> str:
    path = runs / "run" / run_id / "run.json"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def run_json_invalid(runs: Path, run_id: str) -> str:
    path = runs / "run" / run_id / "run.json"
    spec = json.loads(path.read_bytes())
    spec["created_at"] = "yesterday"
    path.write_text(json.dumps(spec))
    return str(path)


def run_json_empty(runs: Path, run_id: str) -> str:
    path = runs / "run" / run_id / "run.json"
    path.write_bytes(b"")
    return str(path)


DAMAGE = [garbage_in_the_middle, run_json_cut_short, run_json_invalid, run_json_empty]


def half_done(client: Client, runs: Path, key: str) -> str:
    """A run stopped (as by a crash) after its second task: running, and in ready/."""
    run_id = client.create(steps_v1, {"key": key}).id
    finish(client)
    path = journal_of(runs, run_id)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:5]))  # running; first and second started and completed
    client.store.mark_ready(run_id)
    COUNTS.clear()
    return run_id


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__)
def test_a_damaged_run_shows_in_status_and_list_and_others_go_on(
    client: Client, runs: Path, damage: Callable[[Path, str], str]
) -> None:
    damaged = half_done(client, runs, "bad")
    where = damage(runs, damaged)
    other = client.create(steps_v1, {"key": "good"}).id

    code, out, err = invoke(runs, "status", damaged)
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: run {damaged} is damaged: "), err
    assert where in lines[0] and "`aiki doctor`" in lines[0], (where, lines[0])
    assert invoke(runs, "status", damaged, "--json")[:2] == (1, "")

    code, out, err = invoke(runs, "list", "--json")
    assert code == 0, err
    rows = {row["id"]: row for row in json.loads(out)}
    assert rows[other]["status"] == "pending"
    assert rows[damaged]["status"] == "damaged"
    assert rows[damaged]["error"]["type"] == "RunDamaged"
    assert where in rows[damaged]["error"]["message"]
    assert rows[damaged]["error"]["file"] == where.partition(" ")[0]

    code, out, err = invoke(runs, "list")
    assert code == 0, err
    assert any(damaged in line and "damaged" in line for line in out.splitlines()), out
    assert "aiki doctor" in err

    finish(client)  # the worker skips the damaged run and finishes the other
    assert asyncio.run(client.get(other)).result == RESULT
    assert COUNTS["bad", "rd-third"] == 0


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__)
def test_a_worker_logs_a_damaged_run_once_and_carries_on(
    client: Client,
    runs: Path,
    damage: Callable[[Path, str], str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "_DAMAGED_RUN_RECHECK", 0.0)  # look at it every pass
    damaged = half_done(client, runs, "bad")
    damage(runs, damaged)

    async def serve() -> Worker:
        worker = Worker(client, [steps], poll_interval=0.01)
        serving = asyncio.create_task(worker.run())
        await asyncio.sleep(0.15)  # many passes over the damaged run
        later = client.create(steps_v1, {"key": "later"}).id
        await client.wait(later, timeout=10)
        worker.stop()
        await serving
        return worker

    with caplog.at_level(logging.ERROR, logger="aiki.worker"):
        asyncio.run(serve())
    about = [record for record in caplog.records if damaged in record.getMessage()]
    assert len(about) == 1, [record.getMessage() for record in about]
    assert "damaged" in about[0].getMessage() and "aiki doctor" in about[0].getMessage()
    assert COUNTS["later", "rd-third"] == 1
    assert (runs / "ready" / damaged).exists()  # still waiting for someone to repair it


def test_a_repaired_run_is_taken_up_again_by_a_running_worker(
    client: Client, runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "_DAMAGED_RUN_RECHECK", 0.05)
    damaged = half_done(client, runs, "fixed")
    path = journal_of(runs, damaged)
    good = path.read_bytes()
    garbage_in_the_middle(runs, damaged)

    async def serve() -> None:
        worker = Worker(client, [steps], poll_interval=0.01)
        serving = asyncio.create_task(worker.run())
        await asyncio.sleep(0.1)
        with pytest.raises(RunDamaged):
            await client.get(damaged)
        path.write_bytes(good)  # a person repairs the journal
        await client.wait(damaged, timeout=10)
        worker.stop()
        await serving

    asyncio.run(serve())
    assert asyncio.run(client.get(damaged)).result == RESULT
    assert COUNTS["fixed", "rd-first"] == 0  # completed before the damage: not run again
