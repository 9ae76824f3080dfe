"""Exclusive file locks held by an open descriptor (`flock`): tried without waiting,
except `holding_dir`, which guards a few system calls and waits for them.

The kernel drops the lock when its holder dies, even by `kill -9`, which is how a dead
worker's runs become claimable at once. A run is locked through its directory; lock files
and directories are never deleted while they guard anything: unlinking a held lock file
lets a second process lock a new file of the same name, which breaks mutual exclusion.
Locking never creates a file under a name others look at: `lock_new` makes a file that
only its caller knows, who renames it into place once locked (see `roster`).

The lock itself is the OS layer's (`oslayer.lock`): `flock` on Linux, as fast as a
claim trying many locks in a row needs; `filelock`'s descriptor lock elsewhere.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ... import oslayer
from .syncio import FILE_MODE, open_regular


class FileLock:
    """A held lock; `release` (or closing the process) lets it go."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd >= 0

    @property
    def fd(self) -> int:
        """The locked descriptor (of a directory, for `try_lock_dir`): open while held."""
        return self._fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1


def try_lock(path: Path) -> FileLock | None:
    """Lock the existing regular file `path` without waiting: the lock, or None if it is
    held. Nothing is created and no symlink followed: `FileNotFoundError` when there is
    no file, `NotRegularFile` when it is no regular file."""
    return _try_flock(path, open_regular(path, os.O_RDONLY))


def lock_new(path: Path) -> FileLock:
    """Create the file `path` (which must not exist) and lock it. Nobody else knows its
    name yet, so this never waits; the caller may then rename it into place."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        oslayer.lock(fd, wait=True)
    except BaseException:
        os.close(fd)
        raise
    return FileLock(path, fd)


@contextlib.contextmanager
def holding_dir(path: Path) -> Iterator[None]:
    """Hold the lock of the directory `path`, waiting for it: for changes to the names in
    it that must not interleave. Holders keep it for a few system calls."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        oslayer.lock(fd, wait=True)
        yield
    finally:
        os.close(fd)


def try_lock_dir(path: Path) -> FileLock | None:
    """Lock the directory `path` itself, as `try_lock` does a file: no file is created,
    which on some file systems costs a millisecond."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC  # ELOOP: a symlink
    return _try_flock(path, os.open(path, flags))


def _try_flock(path: Path, fd: int) -> FileLock | None:
    try:
        locked = oslayer.lock(fd, wait=False)
    except BaseException:
        os.close(fd)
        raise
    if not locked:
        os.close(fd)
        return None
    return FileLock(path, fd)
