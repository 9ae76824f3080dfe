"""The durability module's own promises: whole reads, and appends whose sync waits for a
flush, which may run in another thread (the order of syncs against other effects is
tested in tests/store)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from aiki_cli.durable import AppendLog, read_file


@pytest.mark.parametrize("size", [0, 1, 4095, 70_000, 300_000])
def test_read_file_reads_a_whole_file(tmp_path: Path, size: int) -> None:
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    assert read_file(path) == data


def test_read_file_reads_what_was_appended_after_it_looked_at_the_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 10)
    fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        result = fstat(fd)
        with path.open("ab") as more:  # the file grows between the fstat and the read
            more.write(b"b" * 200_000)
        return result

    monkeypatch.setattr(os, "fstat", stale_fstat)
    assert read_file(path) == b"a" * 10 + b"b" * 200_000


def test_a_synced_append_waits_for_the_flush_and_one_sync_covers_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    fdatasync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (syncs.append(fd), fdatasync(fd)))
    log = AppendLog(tmp_path / "log")
    try:
        log.append(b"one\n", sync=False)
        log.flush()
        assert syncs == []  # nothing asked to be durable
        log.append(b"two\n")
        log.append(b"three\n")
        assert syncs == []
        log.flush()
        log.flush()
        assert len(syncs) == 1
    finally:
        log.close()
    assert (tmp_path / "log").read_bytes() == b"one\ntwo\nthree\n"


def test_a_line_appended_while_a_flush_syncs_waits_for_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush (in a group commit's thread) covers what was written when it began."""
    log = AppendLog(tmp_path / "log")
    fdatasync = os.fdatasync

    def sync_while_a_line_lands(fd: int) -> None:
        log.append(b"late\n")  # the run appends as the sync is under way
        fdatasync(fd)

    try:
        log.append(b"result\n")
        assert log.unsynced
        monkeypatch.setattr(os, "fdatasync", sync_while_a_line_lands)
        log.flush()
        assert log.unsynced  # the late line may have missed the sync
        monkeypatch.setattr(os, "fdatasync", fdatasync)
        log.flush()
        assert not log.unsynced
    finally:
        log.close()


def test_close_waits_for_a_flush_under_way_in_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The descriptor is not closed (and its number reused) under a sync in flight."""
    syncing, release = threading.Event(), threading.Event()
    fdatasync = os.fdatasync

    def slow_fdatasync(fd: int) -> None:
        syncing.set()
        release.wait(5)
        fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    log = AppendLog(tmp_path / "log")
    log.append(b"result\n")
    flusher = threading.Thread(target=log.flush)
    flusher.start()
    assert syncing.wait(5)
    closer = threading.Thread(target=log.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()  # waiting for the sync
    release.set()
    flusher.join(5)
    closer.join(5)
    assert not closer.is_alive() and not log.unsynced
