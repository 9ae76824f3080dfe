"""What the file store's incremental read (`read_since`, a byte cursor into the journal)
must survive: a line still being written, and damage past the cursor. The contract every
store keeps for it is in test_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiki_cli.errors import RunDamaged
from aiki_cli.model.entry import Entry, StatusChanged, TaskCompleted, TaskStarted
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus
from aiki_cli.store.files import FileStore
from aiki_cli.values.ids import new_run_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def step(n: int) -> list[Entry]:
    at = T0 + timedelta(seconds=n)
    return [
        TaskStarted(at=at, task="t", hash=f"h{n}", input=n),
        TaskCompleted(at=at, task="t", hash=f"h{n}", output=n * 10),
    ]


def append(store: FileStore, run_id: str, *entries: Entry) -> None:
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(*entries)
    claim.release()


RUNNING = StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING)


def test_a_line_being_written_waits_for_its_end(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    spec = store.create_run(
        RunSpec(id=new_run_id(T0, b"\x02" * 10), workflow="w", version="1", created_at=T0)
    )
    append(store, spec.id, RUNNING)
    journal = store.root / "run" / spec.id / "journal.jsonl"
    whole = journal.read_bytes()
    _, entries, cursor = store.read_since(spec.id)
    line = b'{"type":"task_started","at":"2026-01-01T00:00:01Z","task":"t","hash":"h1","input":1}\n'
    journal.write_bytes(whole + line[:20])  # half a line: a write in progress, or torn
    assert store.read_since(spec.id, cursor) == (spec, [], cursor)
    journal.write_bytes(whole + line)
    _, entries, after = store.read_since(spec.id, cursor)
    assert [entry.type for entry in entries] == ["task_started"]
    assert after == len(whole + line)


def test_a_damaged_line_past_the_cursor_is_named_by_its_line_in_the_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "runs")
    spec = store.create_run(
        RunSpec(id=new_run_id(T0, b"\x03" * 10), workflow="w", version="1", created_at=T0)
    )
    append(store, spec.id, RUNNING, *step(1))
    _, _, cursor = store.read_since(spec.id)
    journal = store.root / "run" / spec.id / "journal.jsonl"
    with journal.open("ab") as file:
        file.write(b"not an entry\n")
    with pytest.raises(RunDamaged) as raised:
        store.read_since(spec.id, cursor)
    assert raised.value.line == 4
