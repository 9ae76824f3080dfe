"""Every call of aiki's that differs between operating systems, behind one set of names:
flushing a file to the disk, flushing a directory, flushing a whole file system at once,
and exclusive locks held by an open descriptor.

Two layers implement them. The Linux layer is the fast one: `fdatasync`, `syncfs`
(through ctypes, which `os` lacks) and `flock` called directly. The portable one serves
every other platform: `fcntl.F_FULLFSYNC` where the platform has it (macOS, whose
`fsync` leaves the data in the drive's cache), else `fsync`; no whole-file-system flush,
so a group commit flushes each journal alone; locks through `filelock`'s descriptor locks
(`flock` on Unix, `LockFileEx` on Windows). The kernel drops either kind of lock when its
holder closes the descriptor or dies.

`AIKI_PORTABLE_OS=1` forces the portable layer on Linux, so that it is tested there.
Callers look the names up here at each call (`oslayer.flush_data(fd)`), which lets tests
replace one primitive.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

if sys.platform != "win32":
    import fcntl

    _WAIT, _TRY = fcntl.LOCK_EX, fcntl.LOCK_EX | fcntl.LOCK_NB  # flock's operations

PORTABLE_VARIABLE = "AIKI_PORTABLE_OS"
MEMINFO = "/proc/meminfo"
UNKNOWN = 1 << 62  # bytes waiting to be written, when the machine cannot tell
# macOS's true flush (its `fsync` leaves the data in the drive's cache); None elsewhere.
FULLFSYNC: int | None = None if sys.platform == "win32" else getattr(fcntl, "F_FULLFSYNC", None)


class PortableLayer:
    """Flushes and locks that every platform has, each as strong as the platform allows."""

    name = "portable"

    def flush_data(self, fd: int) -> None:
        """Make the data written to `fd` survive a power loss."""
        self.flush_file(fd)

    def flush_file(self, fd: int) -> None:
        """Make `fd`'s data and its size and times survive a power loss."""
        if FULLFSYNC is not None:
            try:
                fcntl.fcntl(fd, FULLFSYNC)
                return
            except OSError:  # a file system without it (some network ones): fsync
                pass
        os.fsync(fd)

    def flush_dir(self, path: Path) -> None:
        """Make a rename or create inside the directory `path` survive a power loss.
        Windows opens no directory; NTFS journals its names itself."""
        if os.name == "nt":
            return
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            self.flush_file(fd)
        finally:
            os.close(fd)

    def syncfs(self) -> Callable[[int], None] | None:
        """A flush of the whole file system holding an open file, where there is one."""
        return None

    def unwritten_bytes(self) -> int:
        """Bytes the machine has waiting to be written (an upper bound)."""
        return UNKNOWN

    def lock(self, fd: int, *, wait: bool) -> bool:
        """Lock the open `fd` exclusively, waiting for it if `wait`; False if it is held.
        Closing `fd` lets the lock go."""
        from filelock import lock_descriptor

        return lock_descriptor(fd, blocking=wait, poll_interval=0.001)


class LinuxLayer(PortableLayer):
    """Linux's own calls: a data-only flush, one flush of a whole file system, `flock`."""

    name = "linux"

    def flush_data(self, fd: int) -> None:
        os.fdatasync(fd)

    def flush_file(self, fd: int) -> None:
        os.fsync(fd)

    def syncfs(self) -> Callable[[int], None] | None:
        return _syncfs()

    def unwritten_bytes(self) -> int:
        """From /proc/meminfo (all file systems: an upper bound)."""
        try:
            with open(MEMINFO, "rb") as file:
                lines = file.read().splitlines()
            fields = dict(line.split(b":", 1) for line in lines)
            return sum(int(fields[name].split()[0]) for name in (b"Dirty", b"Writeback")) << 10
        except (OSError, KeyError, ValueError, IndexError):
            return UNKNOWN

    def lock(self, fd: int, *, wait: bool) -> bool:
        try:
            fcntl.flock(fd, _WAIT if wait else _TRY)
        except BlockingIOError:
            return False
        return True


@functools.cache
def _syncfs() -> Callable[[int], None] | None:
    """Linux's `syncfs(fd)`, which `os` lacks: one trip to the disk for every file there."""
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError, TypeError):  # no C library, or no syncfs
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int

    def syncfs(fd: int) -> None:
        if function(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    return syncfs


def choose(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> PortableLayer:
    """The Linux layer on Linux, unless `AIKI_PORTABLE_OS=1`; the portable one elsewhere."""
    if platform.startswith("linux") and environ.get(PORTABLE_VARIABLE, "") != "1":
        return LinuxLayer()
    return PortableLayer()


LAYER = choose()
flush_data = LAYER.flush_data
flush_file = LAYER.flush_file
flush_dir = LAYER.flush_dir
syncfs = LAYER.syncfs
unwritten_bytes = LAYER.unwritten_bytes
lock = LAYER.lock
