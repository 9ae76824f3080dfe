"""A run's summary beside its journal (issue 16.15): reading a long run's state folds
only the journal past the summary; a summary the journal no longer matches is ignored."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiki_cli import Client
from aiki_cli.model.entry import (
    ChildStarted,
    EventReceived,
    EventWaited,
    StatusChanged,
    TaskCompleted,
    TaskStarted,
)
from aiki_cli.model.journal import summarize
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus
from aiki_cli.store.files import FileStore, layout
from aiki_cli.store.files.doctor import examine
from aiki_cli.store.files.summary import SUMMARY, SUMMARY_EVERY, TASKS
from aiki_cli.values.ids import new_run_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def long_run(store: FileStore, tasks: int) -> str:
    spec = RunSpec(
        id=new_run_id(T0, b"0123456789"), workflow="w", version="1", input=None, created_at=T0
    )
    run_id = store.create_run(spec).id
    claim = store.claim(run_id)
    assert claim is not None
    at = T0 + timedelta(seconds=1)
    claim.append(StatusChanged(at=at, old=RunStatus.PENDING, new=RunStatus.RUNNING))
    for n in range(tasks):
        claim.append(
            TaskStarted(at=at, task="t", hash=f"h{n}", input=n),
            TaskCompleted(at=at, task="t", hash=f"h{n}", output=n),
            sync=False,
        )
    claim.append(TaskStarted(at=at, task="open", hash="x"))  # a call still in flight
    claim.release()
    return run_id


def append(store: FileStore, run_id: str, *entries: object) -> None:
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(*entries)  # type: ignore[arg-type]
    claim.release()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The journal lines the file store parses, as it parses them."""
    lines: list[bytes] = []
    real = layout.parse_entry

    def counting(line: bytes | str) -> object:
        lines.append(line if isinstance(line, bytes) else line.encode())
        return real(line)

    monkeypatch.setattr(layout, "parse_entry", counting)
    return lines


def test_a_second_read_folds_only_the_entries_appended_since(
    tmp_path: Path, parsed: list[bytes]
) -> None:
    store = FileStore(tmp_path / "runs")
    run_id = long_run(store, SUMMARY_EVERY)
    first = store.read_summary(run_id)
    assert (store.root / "run" / run_id / SUMMARY).is_file()
    at = T0 + timedelta(seconds=2)
    append(store, run_id, TaskCompleted(at=at, task="open", hash="x", output="done"))
    parsed.clear()

    info = store.read_summary(run_id)

    assert len(parsed) == 1  # the one line after the summary
    assert info == summarize(*store.read_run(run_id))
    assert len(info.tasks) == len(first.tasks) == SUMMARY_EVERY + 1
    assert info.tasks[-1].status == "completed" and info.updated_at == at


def test_what_a_run_waits_for_survives_its_summary(tmp_path: Path) -> None:
    """The waits still open when the summary was written are kept in it: a wait that
    ends after it ends, one that does not is still what the run waits for."""
    store = FileStore(tmp_path / "runs")
    run_id = long_run(store, SUMMARY_EVERY)
    at = T0 + timedelta(seconds=2)
    append(
        store,
        run_id,
        EventWaited(at=at, name="first", seq=1),
        EventWaited(at=at, name="second", seq=2, until=at + timedelta(hours=1)),
        ChildStarted(at=at, seq=3, child="child-1", workflow="c", version="1"),
        StatusChanged(at=at, old=RunStatus.RUNNING, new=RunStatus.AWAITING_EVENT),
    )
    kept = store.read_summary(run_id)  # folds past the old summary, and writes one
    assert kept.waiting_for is not None and kept.waiting_for.name == "first"
    append(store, run_id, EventReceived(at=at, name="first", key="k"))

    info = store.read_summary(run_id)

    assert info.waiting_for is not None and info.waiting_for.name == "second"
    assert info == summarize(*store.read_run(run_id))


def test_a_summary_the_journal_no_longer_matches_is_ignored(
    tmp_path: Path, parsed: list[bytes]
) -> None:
    store = FileStore(tmp_path / "runs")
    run_id = long_run(store, SUMMARY_EVERY)
    store.read_summary(run_id)
    journal = store.root / "run" / run_id / "journal.jsonl"
    data = journal.read_bytes()
    journal.write_bytes(data.replace(b'"output":999', b'"output":998'))  # same length
    parsed.clear()

    info = store.read_summary(run_id)

    assert len(parsed) == data.count(b"\n")  # the whole journal again
    assert info == summarize(*store.read_run(run_id))
    assert info.tasks[999].status == "completed"


def test_a_summary_past_the_journals_end_is_ignored(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    run_id = long_run(store, SUMMARY_EVERY)
    store.read_summary(run_id)
    journal = store.root / "run" / run_id / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:10]))  # cut back, as a restore from a backup would

    assert store.read_summary(run_id) == summarize(*store.read_run(run_id))


def test_doctor_reports_a_stale_summary_as_no_damage_and_repair_removes_it(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "runs")
    run_id = long_run(store, SUMMARY_EVERY)
    store.read_summary(run_id)
    assert not examine(store).findings  # a summary that matches is no finding
    journal = store.root / "run" / run_id / "journal.jsonl"
    journal.write_bytes(journal.read_bytes().replace(b'"output":999', b'"output":998'))

    report = examine(store, now=(T0 + timedelta(days=1)).timestamp())
    assert [f.kind for f in report.findings] == ["stale-summary"]
    assert report.healthy
    examine(store, repair=True)
    assert not (store.root / "run" / run_id / SUMMARY).exists()


def test_list_reads_no_task_calls_and_status_wants_them_whole(
    tmp_path: Path, parsed: list[bytes]
) -> None:
    store = FileStore(tmp_path / "runs")
    run_id = long_run(store, SUMMARY_EVERY)
    store.read_summary(run_id)
    (store.root / "run" / run_id / TASKS).unlink()  # as if a crash came between the two
    parsed.clear()

    listed = asyncio.run(Client(store).list())

    assert len(parsed) == 0  # the summary alone: no task line, not the tasks file
    assert [info.id for info in listed] == [run_id] and listed[0].tasks == []
    assert listed[0].status == RunStatus.RUNNING
    info = asyncio.run(Client(store).get(run_id))  # its tasks file is gone: the whole journal
    assert len(parsed) == SUMMARY_EVERY * 2 + 2
    assert info == summarize(*store.read_run(run_id))
