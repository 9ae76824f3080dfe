"""What each contract method says it raises (`aiki_cli/store/base.py`), for every store
where the behaviour is shared, and for the file store where only it can fail that way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiki_cli.errors import NewerFormat, RunDamaged, RunNotFound, StoreUnwritable
from aiki_cli.model.entry import StatusChanged
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Mail, Store
from aiki_cli.store.files import FileStore, syncio
from tests.store.test_contract import UNKNOWN, Specs, spec, store

__all__ = ["spec", "store"]  # the fixtures, shared with the contract suite

AT = datetime(2026, 1, 1, tzinfo=UTC)
RUNNING = StatusChanged(at=AT, old=RunStatus.PENDING, new=RunStatus.RUNNING)


def letter(key: str = "k") -> Mail:
    return Mail(key=key, kind="event", sent_at=AT, name="go")


def test_every_operation_on_a_missing_run_raises_run_not_found(store: Store, spec: Specs) -> None:
    store.create_run(spec())
    acts = [
        lambda: store.read_summary(UNKNOWN),
        lambda: store.read_summary(UNKNOWN, tasks=False),
        lambda: store.request(UNKNOWN, "cancel"),
        lambda: store.post(UNKNOWN, letter()),
        lambda: store.posted(UNKNOWN, "k"),
    ]
    for act in acts:
        with pytest.raises(RunNotFound) as caught:
            act()
        assert isinstance(caught.value, LookupError)
        assert caught.value.run_id == UNKNOWN
    assert store.ready_runs() == [ref.id for ref in store.list_runs()]  # nothing queued


def test_a_claim_held_elsewhere_is_none_and_the_holder_keeps_it(store: Store, spec: Specs) -> None:
    run_id = store.create_run(spec()).id
    held = store.claim(run_id)
    assert held is not None
    assert store.claim(run_id) is None
    held.append(RUNNING)
    held.release()
    assert store.read_run(run_id)[1] == [RUNNING]


def test_a_missing_schedule_is_none_and_removing_it_does_nothing(store: Store) -> None:
    assert store.schedule("nightly") is None
    store.remove_schedule("nightly")
    assert store.schedules() == []
    assert store.next_due() is None


# -- the file store: damage, newer formats, a store that refuses writes -----------------


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "runs")


def test_a_damaged_journal_raises_run_damaged_from_every_read_and_the_claim(
    files: FileStore, spec: Specs
) -> None:
    run_id = files.create_run(spec()).id
    (files.root / "run" / run_id / "journal.jsonl").write_bytes(b"not an entry\n{}\n")
    for act in (files.read_run, files.read_summary, files.claim):
        with pytest.raises(RunDamaged, match="line 1") as caught:
            act(run_id)
        assert caught.value.run_id == run_id
        assert not isinstance(caught.value, NewerFormat)
    (files.root / "run" / run_id / "journal.jsonl").write_bytes(b"")
    claim = files.claim(run_id)  # the failed claims held nothing
    assert claim is not None
    claim.release()


def test_a_letter_that_is_not_one_raises_run_damaged_from_the_claims_mail(
    files: FileStore, spec: Specs
) -> None:
    run_id = files.create_run(spec()).id
    inbox = files.root / "run" / run_id / "inbox"
    inbox.mkdir()
    (inbox / "k.json").write_text('{"key": "k"}')
    claim = files.claim(run_id)
    assert claim is not None
    try:
        with pytest.raises(RunDamaged, match="is not a letter"):
            claim.mail()
    finally:
        claim.release()


def test_a_run_written_by_a_newer_aiki_raises_newer_format(files: FileStore, spec: Specs) -> None:
    run_id = files.create_run(spec()).id
    record = files.root / "run" / run_id / "run.json"
    newer = json.loads(record.read_text()) | {"format": 999}
    record.write_text(json.dumps(newer))
    for act in (files.read_run, files.read_summary, files.claim):
        with pytest.raises(NewerFormat):
            act(run_id)


def test_a_store_that_refuses_writes_raises_store_unwritable(files: FileStore, spec: Specs) -> None:
    run_id = files.create_run(spec()).id
    claim = files.claim(run_id)
    assert claim is not None
    try:
        with syncio.failing_writes():
            with pytest.raises(StoreUnwritable) as caught:
                files.create_run(spec())
            assert caught.value.exit_code == 1
            assert str(files.root) in str(caught.value)
            with pytest.raises(StoreUnwritable):
                files.post(run_id, letter())
            with pytest.raises(StoreUnwritable):
                claim.append(RUNNING)
    finally:
        claim.release()
    assert [ref.id for ref in files.list_runs()] == [run_id]  # the refused start left nothing
    assert files.read_run(run_id)[1] == []  # nor the refused append
    assert not files.posted(run_id, "k")
