"""What the file store's deferred flush promises (SPEC §4): a result appended to a run's
journal is `fdatasync`'d before anything that could depend on it happens outside the
journal — the next task's body, a child's start, the run leaving the queue — and the
entries of one step share one `fdatasync`.

Proven by recording, in order, the journal writes and syncs, the task bodies and the
queue changes of a real run executed in-process on a `FileStore`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import Client, Run, Worker, oslayer, task, workflow
from aiki_cli.store.group_commit import TOGETHER_FROM

Event = tuple[str, str]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """("write", entry type), ("sync", ""), ("unqueue", run id) as they happen."""
    seen: list[Event] = []
    write, fdatasync, unlink = os.write, oslayer.flush_data, os.unlink

    def journal(fd: int) -> bool:
        return os.readlink(f"/proc/self/fd/{fd}").endswith("journal.jsonl")

    def recording_write(fd: int, data: Any) -> int:
        if journal(fd):
            for line in bytes(data).splitlines():
                entry = json.loads(line)
                seen.append(("write", entry.get("to", entry["type"])))
        return write(fd, data)

    def recording_fdatasync(fd: int) -> None:
        if journal(fd):
            seen.append(("sync", ""))
        fdatasync(fd)

    def recording_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).parent.name == "ready":
            seen.append(("unqueue", Path(path).name))
        unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "write", recording_write)
    monkeypatch.setattr(oslayer, "flush_data", recording_fdatasync)
    monkeypatch.setattr(os, "unlink", recording_unlink)
    return seen


def steps_workflow(events: list[Event]) -> Any:
    @task(name="step")
    async def step(value: int) -> int:
        events.append(("body", str(value)))
        return value

    flow = workflow(name="flush-steps")

    @flow.v("1.0.0")
    async def run_steps(input: int, run: Run) -> int:
        for i in range(input):
            await step.start(run, i)
        return input

    return flow, run_steps


def execute(tmp_path: Path, events: list[Event], count: int) -> list[Event]:
    flow, version = steps_workflow(events)

    async def scenario() -> None:
        client = Client(tmp_path / "runs")
        await version.start(client, count)
        events.clear()
        await Worker(client, [flow]).run(until_idle=True)

    asyncio.run(scenario())
    return list(events)


def unsynced_results(events: list[Event], upto: int) -> int:
    """Results and ends written before `upto` with no sync after them (before `upto`)."""
    pending = 0
    for kind, what in events[:upto]:
        if kind == "write" and what in ("task_completed", "completed"):
            pending += 1
        elif kind == "sync":
            pending = 0
    return pending


def test_each_result_is_durable_before_the_next_task_body_runs(
    tmp_path: Path, events: list[Event]
) -> None:
    seen = execute(tmp_path, events, 4)
    bodies = [i for i, (kind, _) in enumerate(seen) if kind == "body"]
    assert len(bodies) == 4
    for at in bodies:
        assert unsynced_results(seen, at) == 0, seen[: at + 1]
    # The first body's task_started is not synced on its own: nothing depends on it yet.
    assert ("sync", "") not in seen[: bodies[0]]


def test_the_end_is_durable_before_the_run_leaves_the_queue(
    tmp_path: Path, events: list[Event]
) -> None:
    seen = execute(tmp_path, events, 2)
    unqueued = [i for i, (kind, _) in enumerate(seen) if kind == "unqueue"]
    assert unqueued, seen
    assert ("write", "completed") in seen[: unqueued[0]]
    assert unsynced_results(seen, unqueued[0]) == 0, seen


@pytest.mark.parametrize("count", [1, 5])
def test_a_step_costs_one_sync_and_the_last_result_shares_the_end_s(
    tmp_path: Path, events: list[Event], count: int
) -> None:
    seen = execute(tmp_path, events, count)
    assert seen.count(("sync", "")) == count
    assert seen.count(("write", "task_completed")) == count


def test_a_claim_creates_no_file(tmp_path: Path) -> None:
    """The journal is made with the run; the run's directory itself is its lock."""
    client = Client(tmp_path / "runs")
    _, version = steps_workflow([])
    handle = asyncio.run(version.start(client, 0))
    run_dir = tmp_path / "runs" / "run" / handle.id
    assert sorted(os.listdir(run_dir)) == ["journal.jsonl", "run.json"]
    assert (run_dir / "journal.jsonl").stat().st_size == 0
    claim = client.store.claim(handle.id)
    assert claim is not None
    try:
        assert client.store.claim(handle.id) is None  # held: the directory is locked
        assert sorted(os.listdir(run_dir)) == ["journal.jsonl", "run.json"]
    finally:
        claim.release()


RUNS = TOGETHER_FROM + 4  # ending together: a batch large enough to sync at once


def test_runs_executing_together_sync_in_a_sync_thread_each_before_it_leaves_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: with many runs executing, their ends are synced together in a sync
    thread (one syncfs for a large batch, or each journal's fdatasync), and each run's
    end is synced before the run leaves the queue."""
    seen: list[tuple[str, str, str]] = []  # (kind, run id or "*" for all, thread)
    fdatasync, unlink = oslayer.flush_data, os.unlink
    syncfs = oslayer.syncfs()

    def journal_of(fd: int) -> str | None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        return path.parent.name if path.name == "journal.jsonl" else None

    def recording_fdatasync(fd: int) -> None:
        if (run_id := journal_of(fd)) is not None:
            seen.append(("sync", run_id, threading.current_thread().name))
            if go.is_set() and threading.current_thread().name.startswith("aiki-sync"):
                # The first end's sync lasts until every run has written its end (however
                # slowly a loaded machine gets there), so that those ends form one batch.
                all_ended.wait()
        fdatasync(fd)

    def recording_syncfs(fd: int) -> None:
        assert syncfs is not None
        seen.append(("sync", "*", threading.current_thread().name))
        syncfs(fd)

    def recording_write(fd: int, data: Any) -> int:
        if (run_id := journal_of(fd)) is None:
            return write(fd, data)
        seen.append(("write", run_id, threading.current_thread().name))
        written = write(fd, data)
        if go.is_set():  # a run's end
            ended.add(run_id)
            if len(ended) == RUNS:
                all_ended.set()
        return written

    def recording_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).parent.name == "ready":
            seen.append(("unqueue", Path(path).name, threading.current_thread().name))
        unlink(path, *args, **kwargs)

    write = os.write
    paused: list[int] = []
    go = asyncio.Event()
    ended: set[str] = set()
    all_ended = threading.Event()

    @task(name="pause")
    async def pause(value: int) -> int:
        paused.append(value)
        if len(paused) == RUNS:
            go.set()
        await go.wait()  # the runs end together
        return value

    flow = workflow(name="flush-together")

    @flow.v("1.0.0")
    async def together(input: int, run: Run) -> int:
        return await pause.start(run, input)

    async def scenario() -> list[str]:
        client = Client(tmp_path / "runs")
        ids = [(await together.start(client, i)).id for i in range(RUNS)]
        monkeypatch.setattr(oslayer, "flush_data", recording_fdatasync)
        monkeypatch.setattr(os, "write", recording_write)
        monkeypatch.setattr(os, "unlink", recording_unlink)
        monkeypatch.setattr(oslayer, "syncfs", lambda: syncfs and recording_syncfs)
        monkeypatch.setattr(oslayer, "unwritten_bytes", lambda: 0)  # an idle machine
        await Worker(client, [flow], concurrency=RUNS).run(until_idle=True)
        return ids

    ids = asyncio.run(scenario())
    for run_id in ids:
        unqueued = seen.index(("unqueue", run_id, "MainThread"))
        last_write = max(i for i, (kind, who, _) in enumerate(seen[:unqueued]) if who == run_id)
        synced = [who for kind, who, _ in seen[last_write:unqueued] if kind == "sync"]
        assert run_id in synced or "*" in synced, (run_id, seen)
    syncs = [(who, thread) for kind, who, thread in seen if kind == "sync"]
    assert any(thread.startswith("aiki-sync") for _, thread in syncs)
    if syncfs is not None:  # a large batch is one syncfs: fewer syncs than runs
        assert any(who == "*" and thread.startswith("aiki-sync") for who, thread in syncs)
        assert len(syncs) < len(ids)
