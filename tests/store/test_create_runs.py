"""`create_runs`, many starts at once: on every store each run is stored and queued as
`create_run` stores one; on the file store the batch waits for the disk a few times in
all, not a few times per run, and a failure midway leaves none of the batch."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import oslayer
from aiki_cli.errors import StoreUnwritable
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Store
from aiki_cli.store.files import FileStore

from .test_contract import Specs, spec, store

__all__ = ["spec", "store"]  # the contract suite's fixtures, used here


def test_each_run_of_a_batch_is_stored_queued_and_listed_in_order(
    store: Store, spec: Specs
) -> None:
    batch = [spec(n=n) for n in range(5)]
    store.create_runs(batch)
    for made in batch:
        read, entries = store.read_run(made.id)
        assert (read, entries) == (made, [])
        assert store.read_summary(made.id).status == RunStatus.PENDING
    assert sorted(store.ready_runs()) == sorted(made.id for made in batch)
    assert [ref.id for ref in store.list_runs()] == [made.id for made in reversed(batch)]


def test_a_batch_after_single_starts_keeps_them(store: Store, spec: Specs) -> None:
    first = store.create_run(spec())
    store.create_runs([spec(), spec()])
    assert len(list(store.list_runs())) == 3
    assert store.read_run(first.id)[0] == first


Flushes = dict[str, int]


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> Flushes:
    """How many times each of the OS layer's flushes was called."""
    counts: Flushes = {"file": 0, "dir": 0, "syncfs": 0}

    def counting(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            counts[name] += 1
            return call(*args)

        return counted

    real_syncfs = oslayer.syncfs()
    monkeypatch.setattr(oslayer, "flush_file", counting("file", oslayer.flush_file))
    monkeypatch.setattr(oslayer, "flush_dir", counting("dir", oslayer.flush_dir))
    if real_syncfs is not None:
        monkeypatch.setattr(oslayer, "syncfs", lambda: counting("syncfs", real_syncfs))
    return counts


def test_a_file_store_batch_flushes_a_few_times_in_all(
    tmp_path: Path, spec: Specs, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oslayer, "unwritten_bytes", lambda: 0)  # others' writes: none waiting
    store = FileStore(tmp_path / "runs")
    store.create_run(spec())  # lays the store out
    flushes.update(file=0, dir=0, syncfs=0)
    store.create_run(spec())
    one = sum(flushes.values())
    flushes.update(file=0, dir=0, syncfs=0)
    store.create_runs([spec() for _ in range(50)])
    if oslayer.syncfs() is not None:
        assert flushes == {"file": 0, "dir": 2, "syncfs": 1}  # ready/, run/, and the rest
    assert sum(flushes.values()) < 50 * one


def test_without_syncfs_each_file_and_folder_is_flushed_once(
    tmp_path: Path, spec: Specs, flushes: Flushes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oslayer, "syncfs", lambda: None)
    store = FileStore(tmp_path / "runs")
    store.create_runs([spec() for _ in range(3)])
    assert flushes == {"file": 3, "dir": 3 + 2, "syncfs": 0}


def test_a_batch_that_fails_midway_leaves_none_of_its_runs(
    tmp_path: Path, spec: Specs, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path / "runs")
    kept = store.create_run(spec())
    rename, renamed = os.rename, []

    def full_after_two(source: Any, target: Any, **kwargs: Any) -> None:
        if len(renamed) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        renamed.append(target)
        rename(source, target, **kwargs)

    monkeypatch.setattr(os, "rename", full_after_two)
    with pytest.raises(StoreUnwritable):
        store.create_runs([spec() for _ in range(4)])
    monkeypatch.undo()
    assert [ref.id for ref in store.list_runs() if (store.root / "run" / ref.id).is_dir()] == [
        kept.id
    ]
    assert store.ready_runs() == [kept.id]
    assert os.listdir(store.root / "tmp") == []
