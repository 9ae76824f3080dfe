"""Probes that let the integration tests see what a worker process did.

Task bodies call these; everything lands in the directory named by `AIKI_TEST_COUNTS`
(with it unset, nothing is recorded and `wait_for_go` returns at once):

    counts     one line "<key> <task>" per execution of a task body
    overlaps   one line per task that found its run's marker taken: two workers at once
    markers/   <key> exists while a task of that run executes
    solo/      <key> holds the pid of the process executing a `solo` task of that run
    go         slow tasks block until the test creates this file

Lines are appended with O_APPEND in a single write, so the worker processes of a test
never interleave them. The loader skips this module (its name starts with `_`); the
workflow modules beside it import it as a sibling.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

GO_TIMEOUT = 60.0


def _folder() -> Path | None:
    folder = os.environ.get("AIKI_TEST_COUNTS")
    return Path(folder) if folder else None


def _append(name: str, line: str) -> None:
    folder = _folder()
    if folder is None:
        return
    fd = os.open(folder / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def record(key: str, task: str) -> None:
    """Count one execution of `task` for the run whose input carries `key`."""
    _append("counts", f"{key} {task}\n")


@contextlib.contextmanager
def exclusive(key: str, task: str) -> Iterator[None]:
    """Hold the run's marker while the task executes; a taken marker is an overlap."""
    folder = _folder()
    if folder is None:
        yield
        return
    marker = folder / "markers" / key
    marker.parent.mkdir(exist_ok=True)
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _append("overlaps", f"{key} {task} pid={os.getpid()}\n")
        yield
        return
    try:
        yield
    finally:
        marker.unlink()


@contextlib.contextmanager
def solo(key: str, task: str) -> Iterator[None]:
    """Like `exclusive`, for a body whose process may be killed while it executes: the
    marker holds the pid of the process executing it, and a marker whose process has
    died is stale rather than an overlap."""
    folder = _folder()
    if folder is None:
        yield
        return
    marker = folder / "solo" / key
    marker.parent.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        holder = int(marker.read_text())
        if holder != os.getpid() and _alive(holder):
            _append("overlaps", f"{key} {task} pid={os.getpid()} beside pid={holder}\n")
    marker.write_text(str(os.getpid()))
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` still executes: a zombie (dead, not yet reaped) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_for_go() -> None:
    """Block until the test says go; bounded, so a forgotten go cannot hang a worker."""
    folder = _folder()
    if folder is None:
        return
    deadline = time.monotonic() + GO_TIMEOUT
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no go file in {folder} after {GO_TIMEOUT:g}s")
        time.sleep(0.01)
