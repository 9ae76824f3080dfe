"""The durability module's own promises: whole reads, and appends whose sync waits for a
flush (the order of syncs against other effects is tested in tests/store)."""

from __future__ import annotations

import os
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
