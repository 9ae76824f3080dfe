"""The OS layer: which one is chosen, and each primitive of the portable one (and the
Linux one's, where they share a test). The store's whole contract and the kill tests run
again with the portable layer forced in tests/reliability/test_portable_os.py."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aiki_cli import oslayer
from aiki_cli.oslayer import LinuxLayer, PortableLayer, choose
from aiki_cli.store.files.lock import try_lock, try_lock_dir
from aiki_cli.store.files.syncio import AppendLog, sync_together

LAYERS = [pytest.param(LinuxLayer(), id="linux"), pytest.param(PortableLayer(), id="portable")]


@pytest.mark.parametrize(
    ("environ", "platform", "chosen"),
    [
        ({}, "linux", "linux"),
        ({"AIKI_PORTABLE_OS": "0"}, "linux", "linux"),
        ({"AIKI_PORTABLE_OS": "1"}, "linux", "portable"),
        ({}, "darwin", "portable"),
        ({}, "win32", "portable"),
        ({}, "freebsd14", "portable"),
    ],
)
def test_the_linux_layer_is_chosen_on_linux_unless_the_portable_one_is_forced(
    environ: dict[str, str], platform: str, chosen: str
) -> None:
    assert choose(environ, platform).name == chosen


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux layer is Linux's")
@pytest.mark.parametrize(("value", "chosen"), [(None, "linux"), ("1", "portable")])
def test_a_process_uses_the_layer_its_environment_chooses(value: str | None, chosen: str) -> None:
    """Workers started with the variable set (as the kill tests start them) use it too."""
    env = {k: v for k, v in os.environ.items() if k != oslayer.PORTABLE_VARIABLE}
    if value is not None:
        env[oslayer.PORTABLE_VARIABLE] = value
    code = "from aiki_cli import oslayer; print(oslayer.LAYER.name, oslayer.lock.__self__.name)"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == [chosen, chosen], done.stderr


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Calls of `os.fsync` and `fcntl.fcntl`, by name and descriptor, still made."""
    calls: list[tuple[str, int]] = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(("fsync", fd)), fsync(fd))[1])
    monkeypatch.setattr(oslayer.fcntl, "fcntl", lambda fd, command: calls.append(("fullfsync", fd)))
    return calls


@pytest.mark.parametrize("full", [None, 51])
def test_the_portable_flush_is_a_full_fsync_where_the_platform_has_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: int | None
) -> None:
    """macOS's `fsync` leaves data in the drive's cache: F_FULLFSYNC (51 there) flushes it."""
    calls = _recording(monkeypatch)
    monkeypatch.setattr(oslayer, "FULLFSYNC", full)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"data")
        PortableLayer().flush_data(fd)
        PortableLayer().flush_file(fd)
    finally:
        os.close(fd)
    assert calls == [("fsync" if full is None else "fullfsync", fd)] * 2


def test_where_the_full_fsync_fails_the_portable_flush_falls_back_to_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems (network ones) refuse F_FULLFSYNC."""
    calls: list[str] = []

    def refusing(fd: int, command: int) -> None:
        calls.append("fullfsync")
        raise OSError(45, "Operation not supported")

    fsync = os.fsync
    monkeypatch.setattr(oslayer, "FULLFSYNC", 51)
    monkeypatch.setattr(oslayer.fcntl, "fcntl", refusing)
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), fsync(fd))[1])
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        PortableLayer().flush_data(fd)
    finally:
        os.close(fd)
    assert calls == ["fullfsync", "fsync"]


def test_the_linux_data_flush_is_fdatasync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    fdatasync = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), fdatasync(fd))[1])
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        LinuxLayer().flush_data(fd)
    finally:
        os.close(fd)
    assert synced == [fd]


@pytest.mark.parametrize("layer", LAYERS)
def test_a_directory_flush_syncs_the_directory_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer: PortableLayer
) -> None:
    kinds: list[bool] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        kinds.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    monkeypatch.setattr(oslayer, "FULLFSYNC", None)
    layer.flush_dir(tmp_path)
    assert kinds == [True]


def test_the_portable_layer_has_no_file_system_flush_so_each_log_flushes_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    portable = PortableLayer()
    assert portable.syncfs() is None
    monkeypatch.setattr(oslayer, "syncfs", portable.syncfs)
    monkeypatch.setattr(oslayer, "unwritten_bytes", portable.unwritten_bytes)
    logs = [AppendLog(tmp_path / f"log-{n}") for n in range(2)]
    try:
        for log in logs:
            log.append(b"result\n")
        assert not sync_together(logs)  # the caller then flushes each alone
        assert all(log.unsynced for log in logs)
        for log in logs:
            log.flush()
        assert not any(log.unsynced for log in logs)
    finally:
        for log in logs:
            log.close()


def test_what_waits_to_be_written_is_read_from_proc_meminfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meminfo = tmp_path / "meminfo"
    monkeypatch.setattr(oslayer, "MEMINFO", str(meminfo))
    meminfo.write_bytes(b"MemTotal: 100 kB\nDirty:        7764 kB\nWriteback:       4 kB\n")
    assert LinuxLayer().unwritten_bytes() == (7764 + 4) * 1024
    meminfo.write_bytes(b"MemTotal: 100 kB\n")
    assert LinuxLayer().unwritten_bytes() == oslayer.UNKNOWN  # cannot tell: no syncfs
    assert PortableLayer().unwritten_bytes() == oslayer.UNKNOWN


@pytest.mark.parametrize("layer", LAYERS)
def test_a_lock_is_exclusive_until_its_descriptor_closes(
    tmp_path: Path, layer: PortableLayer
) -> None:
    path = tmp_path / "lock"
    path.touch()
    first, second = os.open(path, os.O_RDONLY), os.open(path, os.O_RDONLY)
    try:
        assert layer.lock(first, wait=False)
        assert not layer.lock(second, wait=False)  # another open file, even in this process
    finally:
        os.close(first)
    try:
        assert layer.lock(second, wait=False)
    finally:
        os.close(second)


@pytest.mark.parametrize("layer", LAYERS)
def test_a_waiting_lock_is_granted_when_the_holder_lets_go(
    tmp_path: Path, layer: PortableLayer
) -> None:
    held, waiting = os.open(tmp_path, os.O_RDONLY), os.open(tmp_path, os.O_RDONLY)
    order: list[str] = []
    try:
        assert layer.lock(held, wait=False)
        waiter = threading.Thread(
            target=lambda: order.append("granted" if layer.lock(waiting, wait=True) else "no")
        )
        waiter.start()
        order.append("released")
        os.close(held)
        waiter.join(30)
        assert order == ["released", "granted"]
    finally:
        os.close(waiting)


HOLDER = """
import os, sys
from aiki_cli import oslayer
fd = os.open(sys.argv[1], os.O_RDONLY)
assert oslayer.lock(fd, wait=False)
print(oslayer.LAYER.name, flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("portable", ["0", "1"])
def test_a_lock_held_by_a_process_killed_with_sigkill_is_free_at_once(
    tmp_path: Path, portable: str
) -> None:
    """How a dead worker's runs become claimable: the kernel drops its locks."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, oslayer.PORTABLE_VARIABLE: portable}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == ("portable" if portable == "1" else "linux")
        assert try_lock_dir(run_dir) is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        lock = try_lock_dir(run_dir)
        assert lock is not None
        lock.release()
    finally:
        holder.kill()
        holder.wait(30)
        holder.stdin.close()  # type: ignore[union-attr]
        holder.stdout.close()  # type: ignore[union-attr]


def test_the_file_locks_go_through_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lock.py calls the layer, so forcing the portable one changes the store's locks."""
    asked: list[bool] = []
    monkeypatch.setattr(oslayer, "lock", lambda fd, *, wait: asked.append(wait) or False)
    (tmp_path / "f").touch()
    assert try_lock(tmp_path / "f") is None
    assert try_lock_dir(tmp_path) is None
    assert asked == [False, False]
