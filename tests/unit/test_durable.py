"""The durability module's own promises: whole reads, and appends whose sync waits for a
flush, which may run in another thread (the order of syncs against other effects is
tested in tests/store)."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aiki_cli import oslayer
from aiki_cli.store.files import syncio
from aiki_cli.store.files.syncio import AppendLog, read_file, sync_together


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
    fdatasync = oslayer.flush_data
    monkeypatch.setattr(oslayer, "flush_data", lambda fd: (syncs.append(fd), fdatasync(fd)))
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
    fdatasync = oslayer.flush_data

    def sync_while_a_line_lands(fd: int) -> None:
        log.append(b"late\n")  # the run appends as the sync is under way
        fdatasync(fd)

    try:
        log.append(b"result\n")
        assert log.unsynced
        monkeypatch.setattr(oslayer, "flush_data", sync_while_a_line_lands)
        log.flush()
        assert log.unsynced  # the late line may have missed the sync
        monkeypatch.setattr(oslayer, "flush_data", fdatasync)
        log.flush()
        assert not log.unsynced
    finally:
        log.close()


def test_close_waits_for_a_flush_under_way_in_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The descriptor is not closed (and its number reused) under a sync in flight."""
    syncing, release = threading.Event(), threading.Event()
    fdatasync = oslayer.flush_data

    def slow_fdatasync(fd: int) -> None:
        syncing.set()
        release.wait(5)
        fdatasync(fd)

    monkeypatch.setattr(oslayer, "flush_data", slow_fdatasync)
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


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[list[AppendLog]]:
    opened = [AppendLog(tmp_path / f"log-{n}") for n in range(3)]
    yield opened
    for log in opened:
        log.close()


def fake_syncfs(monkeypatch: pytest.MonkeyPatch, sync: Callable[[int], None] | None) -> None:
    monkeypatch.setattr(oslayer, "syncfs", lambda: sync)
    monkeypatch.setattr(oslayer, "unwritten_bytes", lambda: 0)  # an idle machine


def test_one_syncfs_makes_many_logs_durable_and_no_fdatasync(
    logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real = oslayer.syncfs()
    fake_syncfs(monkeypatch, lambda fd: (syncs.append(fd), real and real(fd)))
    monkeypatch.setattr(oslayer, "flush_data", lambda fd: pytest.fail("synced alone"))
    logs[0].append(b"result\n")
    logs[1].append(b"result\n")
    logs[2].append(b"started\n", sync=False)  # asks for no sync: left out
    assert sync_together(logs)
    assert len(syncs) == 1
    assert not any(log.unsynced for log in logs)
    assert sync_together(logs)  # nothing waits: no sync at all
    assert len(syncs) == 1


def test_a_log_asked_for_twice_is_synced_once(
    logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose tasks run side by side asks for a flush once per task, in one batch."""
    fake_syncfs(monkeypatch, lambda fd: None)
    logs[0].append(b"result\n")
    syncing = threading.Thread(target=sync_together, args=([logs[0], logs[0]],))
    syncing.start()
    syncing.join(5)
    assert not syncing.is_alive()  # it does not wait for its own lock
    assert not logs[0].unsynced


def test_a_line_appended_during_the_syncfs_waits_for_the_next_sync(
    logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_syncfs(monkeypatch, lambda fd: logs[1].append(b"late\n"))
    logs[0].append(b"result\n")
    assert sync_together(logs)
    assert not logs[0].unsynced
    assert logs[1].unsynced


def test_a_failed_or_missing_syncfs_leaves_each_log_to_flush_alone(
    logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """syncfs reports any write-back error on the file system, perhaps another file's:
    each log's own fdatasync then tells which, if any, failed."""

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "write-back failed")

    logs[0].append(b"result\n")
    for sync in (failing, None):
        fake_syncfs(monkeypatch, sync)
        assert not sync_together(logs)
        assert logs[0].unsynced
    logs[0].flush()
    assert not logs[0].unsynced


def test_a_closed_log_is_not_counted_as_synced(
    logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_syncfs(monkeypatch, lambda fd: None)
    logs[0].append(b"result\n")
    logs[1].append(b"result\n")
    logs[1].close()
    assert not sync_together(logs)
    assert logs[0].unsynced


def test_with_much_else_waiting_to_be_written_each_log_syncs_alone(
    logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """syncfs would write another program's large write out too, in a run's time."""
    fake_syncfs(monkeypatch, lambda fd: pytest.fail("synced the whole file system"))
    monkeypatch.setattr(oslayer, "unwritten_bytes", lambda: syncio.SYNCFS_LIMIT + 1)
    logs[0].append(b"result\n")
    assert not sync_together(logs)
    assert logs[0].unsynced


@pytest.mark.skipif(oslayer.syncfs() is None, reason="no syncfs here (Linux has it)")
def test_the_real_syncfs_syncs(logs: list[AppendLog], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oslayer, "unwritten_bytes", lambda: 0)
    for log in logs:
        log.append(b"result\n")
    assert sync_together(logs)
    assert not any(log.unsynced for log in logs)
