"""gc, archives, restore and a worker's retention (issue 20 item 3), driven through the
client and the real worker over the memory store, with a clock that moves when told."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import Client, MemoryStore, Run, RunStatus, Worker, task, workflow
from aiki_cli.engine.archive import plain_files, read_archive
from aiki_cli.engine.retention import Policy, Report
from aiki_cli.errors import BadInput, RunExists, RunNotFound
from aiki_cli.testing import ManualClock

DAY = timedelta(days=1)


@task(name="double")
async def double(value: int) -> int:
    return value * 2


@task(name="refuse")
async def refuse(value: Any) -> None:
    raise ValueError("refused")


flows = workflow(name="flows")


@flows.v("1.0.0")
async def once(input: dict[str, Any], run: Run) -> int:
    return int(await double.start(run, input["n"]))


@flows.v("2.0.0")
async def fails(input: dict[str, Any], run: Run) -> None:
    await refuse.start(run, None)


@flows.v("3.0.0")
async def waits(input: dict[str, Any], run: Run) -> Any:
    return await run.wait_for_event("go")


parents = workflow(name="parents")


@parents.v("1.0.0")
async def parent(input: dict[str, Any], run: Run) -> Any:
    child = await once.start(run, {"n": 1})  # the child ends; the parent waits on
    return [child, await run.wait_for_event("go")]


VERSIONS = [once, fails, waits, parent]


class Kit:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.store = MemoryStore()
        self.client = Client(self.store, clock=clock)

    def start(self, version: Any, input: Any = None) -> str:
        return asyncio.run(self.client.start(version, input or {"n": 1})).id

    def work(self, **options: Any) -> Worker:
        worker = Worker(self.client, VERSIONS, poll_interval=0.001, **options)
        asyncio.run(worker.run(until_idle=True))
        return worker

    def status(self, run_id: str) -> RunStatus:
        return self.store.read_summary(run_id, tasks=False).status

    def gc(self, policy: Policy, **options: Any) -> Report:
        return asyncio.run(self.client.gc(policy, **options))

    def ids(self) -> set[str]:
        return {ref.id for ref in self.store.list_runs()}


@pytest.fixture
def kit(clock: ManualClock) -> Kit:
    return Kit(clock)


def test_gc_removes_ended_runs_older_than_the_age_and_nothing_else(kit: Kit) -> None:
    old_done, old_failed = kit.start(once), kit.start(fails)
    waiting = kit.start(waits)
    kit.work()
    kit.clock.advance(DAY)
    new_done = kit.start(once)
    kit.work()
    kit.clock.advance(timedelta(hours=1))
    report = kit.gc(Policy(timedelta(hours=2)))
    assert sorted(run.id for run in report.runs) == sorted([old_done, old_failed])
    assert {run.id: run.status for run in report.runs}[old_failed] == RunStatus.FAILED
    assert kit.ids() == {waiting, new_done}
    assert kit.status(waiting) == RunStatus.AWAITING_EVENT
    for gone in (old_done, old_failed):
        with pytest.raises(RunNotFound):
            kit.store.read_run(gone)


def test_gc_chooses_by_status_and_workflow(kit: Kit) -> None:
    done, failed = kit.start(once), kit.start(fails)
    kit.work()
    kit.clock.advance(DAY)
    assert [r.id for r in kit.gc(Policy(DAY, [RunStatus.FAILED])).runs] == [failed]
    assert kit.gc(Policy(DAY, workflow="parents")).runs == []
    assert [r.id for r in kit.gc(Policy(DAY, workflow="flows")).runs] == [done]


def test_gc_refuses_to_remove_unfinished_statuses() -> None:
    with pytest.raises(BadInput, match="only ended runs"):
        Policy(DAY, [RunStatus.COMPLETED, RunStatus.RUNNING])


def test_a_child_of_an_unfinished_parent_stays_until_the_parent_ends(kit: Kit) -> None:
    parent_id = kit.start(parent)
    kit.work()
    (child_id,) = kit.store.read_summary(parent_id).children
    assert kit.status(child_id) == RunStatus.COMPLETED
    kit.clock.advance(DAY * 2)
    assert kit.gc(Policy(DAY)).runs == []
    asyncio.run(kit.client.send(parent_id, "go", 1))
    kit.work()
    kit.clock.advance(DAY * 2)
    assert sorted(r.id for r in kit.gc(Policy(DAY)).runs) == sorted([parent_id, child_id])


def test_a_dry_run_reports_the_same_runs_and_bytes_and_removes_nothing(kit: Kit) -> None:
    run_ids = [kit.start(once) for _ in range(3)]
    kit.work()
    kit.clock.advance(DAY)
    before = {run_id: kit.store.export_run(run_id) for run_id in run_ids}
    dry = kit.gc(Policy(DAY), dry_run=True)
    assert kit.ids() == set(run_ids)
    report = kit.gc(Policy(DAY))
    assert [r.document() for r in dry.runs] == [r.document() for r in report.runs]
    sizes = {run_id: sum(map(len, plain_files(run).values())) for run_id, run in before.items()}
    assert {r.id: r.bytes for r in report.runs} == sizes
    assert report.bytes == dry.bytes == sum(sizes.values()) > 0
    assert report.document()["count"] == 3 and not report.document()["dry_run"]


def test_a_limit_removes_that_many_runs_a_pass(kit: Kit) -> None:
    for _ in range(5):
        kit.start(once)
    kit.work()
    kit.clock.advance(DAY)
    assert len(kit.gc(Policy(DAY, limit=2)).runs) == 2
    assert len(kit.ids()) == 3


def test_archived_runs_restore_to_the_same_status(kit: Kit, tmp_path: Path) -> None:
    done, failed = kit.start(once), kit.start(fails)
    kit.work()
    before = {i: asyncio.run(kit.client.get(i)).document() for i in (done, failed)}
    exports = {i: kit.store.export_run(i) for i in (done, failed)}
    kit.clock.advance(DAY)
    archive = tmp_path / "old.tar.gz"
    kit.gc(Policy(DAY), archive=archive)
    assert kit.ids() == set()
    assert {run.spec.id: run for run in read_archive(archive)} == exports
    assert sorted(asyncio.run(kit.client.restore(archive))) == sorted([done, failed])
    assert {i: asyncio.run(kit.client.get(i)).document() for i in (done, failed)} == before
    with pytest.raises(RunExists, match="--skip-existing"):
        asyncio.run(kit.client.restore(archive))


def test_a_restore_refused_for_one_run_writes_none(kit: Kit, tmp_path: Path) -> None:
    first, second = kit.start(once), kit.start(once)
    kit.work()
    kit.clock.advance(DAY)
    archive = tmp_path / "old.tar.gz"
    kit.gc(Policy(DAY), archive=archive)
    asyncio.run(kit.client.import_run(read_archive(archive)[1]))
    with pytest.raises(RunExists):
        asyncio.run(kit.client.restore(archive))
    assert len(kit.ids()) == 1
    restored = asyncio.run(kit.client.restore(archive, skip_existing=True))
    assert len(restored) == 1 and kit.ids() == {first, second}


def test_an_archive_is_never_written_over_and_then_nothing_is_removed(
    kit: Kit, tmp_path: Path
) -> None:
    run_id = kit.start(once)
    kit.work()
    kit.clock.advance(DAY)
    archive = tmp_path / "old.tar.gz"
    archive.write_bytes(b"an earlier archive")
    with pytest.raises(BadInput, match="exists"):
        kit.gc(Policy(DAY), archive=archive)
    assert archive.read_bytes() == b"an earlier archive"
    assert kit.ids() == {run_id}
    assert [p.name for p in tmp_path.iterdir()] == ["old.tar.gz"]  # no temp file left


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.tar.gz").write_bytes(b"not gzip")
    with pytest.raises(BadInput, match=r"not a readable tar\.gz"):
        read_archive(tmp_path / "x.tar.gz")
    with pytest.raises(BadInput, match="no archive"):
        read_archive(tmp_path / "missing.tar.gz")


def test_an_import_under_a_new_id_keeps_the_journal(kit: Kit) -> None:
    run_id = kit.start(once)
    kit.work()
    exported = asyncio.run(kit.client.export_run(run_id))
    with pytest.raises(RunExists):
        asyncio.run(kit.client.import_run(exported))
    copy_id = asyncio.run(kit.client.import_run(exported, new_id=True))
    assert copy_id != run_id
    assert kit.store.read_run(copy_id)[1] == kit.store.read_run(run_id)[1]
    assert asyncio.run(kit.client.get(copy_id)).result == 2


def test_a_worker_with_retention_removes_old_ended_runs_and_logs_them(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    old = [kit.start(once) for _ in range(3)]
    waiting = kit.start(waits)
    kit.work()
    kit.clock.advance(DAY * 31)
    fresh = kit.start(once)
    with caplog.at_level(logging.INFO, logger="aiki.retention"):
        worker = kit.work(retention=timedelta(days=30))
    assert worker.retention is not None and worker.retention.removed == 3
    assert kit.ids() == {waiting, fresh}
    assert kit.status(fresh) == RunStatus.COMPLETED  # executed beside the pass
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "removed 3 run(s)" in logged and all(run_id in logged for run_id in old)


def test_a_worker_without_retention_removes_nothing(kit: Kit) -> None:
    run_id = kit.start(once)
    kit.work()
    kit.clock.advance(DAY * 400)
    assert kit.work().retention is None
    assert kit.ids() == {run_id}
