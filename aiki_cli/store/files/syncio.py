"""All of aiki's durability in one place: atomic replace, atomic create, fsync'd append,
many logs made durable by one sync, and reading a line log whose last line may be torn.

Files are created 0600 and directories 0700: inputs and results may hold secrets.

Files are opened with `open_regular`: never through a symlink, never blocking on a FIFO,
and only when they are regular files, so a hostile or stray file in the store cannot
make aiki write outside it or hang.

Every byte aiki writes goes through `write_all`, so `failing_writes` (for tests) can make
the disk look full, or cut a write short, without patching `os`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ... import oslayer

FILE_MODE = 0o600
DIR_MODE = 0o700


class NotRegularFile(OSError):
    """A file of the store is a symlink, a FIFO, a device or a directory: aiki neither
    follows nor opens it."""

    def __str__(self) -> str:
        return f"{self.filename} {self.strerror}"


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def open_regular(
    path: Path | str, flags: int, mode: int = FILE_MODE, *, dir_fd: int | None = None
) -> int:
    """Open the regular file `path` (`os.open`'s `flags`): never through a symlink, never
    waiting on a FIFO; `NotRegularFile` when it is anything but a regular file."""
    return _open_regular(path, flags, mode, dir_fd)[0]


def _open_regular(
    path: Path | str, flags: int, mode: int, dir_fd: int | None
) -> tuple[int, os.stat_result]:
    """`open_regular`, and what `fstat` said of the file."""
    flags |= os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            what = "is a symbolic link, which aiki never follows"
            raise NotRegularFile(error.errno, what, str(path)) from None
        if error.errno in (errno.EISDIR, errno.ENXIO):  # ENXIO: a FIFO opened for writing
            kind = stat.S_IFMT(os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            raise _not_regular(path, kind, error.errno) from None
        raise
    found = os.fstat(fd)
    kind = stat.S_IFMT(found.st_mode)
    if kind != stat.S_IFREG:
        os.close(fd)
        raise _not_regular(path, kind)
    return fd, found


def _not_regular(path: Path | str, kind: int, code: int = errno.EINVAL) -> NotRegularFile:
    what = _KINDS.get(kind, "no regular file")
    return NotRegularFile(code, f"is {what}, not a regular file", str(path))


def make_dirs(path: Path) -> None:
    """Create `path` and any missing parents, each 0700 (`mkdir -p` gives parents 0755)."""
    if path.is_dir():
        return
    make_dirs(path.parent)
    path.mkdir(mode=DIR_MODE, exist_ok=True)


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside `path` survive a power loss."""
    oslayer.flush_dir(path)


def write_synced(path: Path, data: bytes) -> None:
    """Create `path` (which must not exist) with `data`, fsync'd."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        write_all(fd, data)
        oslayer.flush_file(fd)
    finally:
        os.close(fd)


def write_unsynced(path: Path | str, data: bytes) -> None:
    """Create `path` (which must not exist) with `data`, to be made durable by `sync_all`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def sync_all(files: Sequence[Path], dirs: Sequence[Path]) -> None:
    """Make `files` and the names in `dirs`, all on one file system, survive a power loss:
    with one `syncfs` where there is one and little else waits to be written, where a
    flush of each would wait for the disk as many times; else a flush of each."""
    syncfs = oslayer.syncfs()
    if files and syncfs is not None and oslayer.unwritten_bytes() <= SYNCFS_LIMIT:
        fd = os.open(files[0], os.O_RDONLY | os.O_CLOEXEC)
        try:
            syncfs(fd)
            return
        except OSError:
            pass  # perhaps another file's failed write-back: flush each, which tells
        finally:
            os.close(fd)
    for path in files:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            oslayer.flush_file(fd)
        finally:
            os.close(fd)
    for folder in dirs:
        fsync_dir(folder)


def _temp_beside(path: Path) -> Path:
    import secrets  # slow to import (hashlib, random): only a writer pays for it

    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix."""
    temp = _temp_beside(path)
    try:
        write_synced(temp, data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def atomic_create(path: Path, data: bytes) -> bool:
    """Create `path` with `data` whole, unless it exists: True if this call created it."""
    temp = _temp_beside(path)
    try:
        write_synced(temp, data)
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


def write_all(fd: int, data: bytes) -> None:
    written = 0 if _fault is not None else os.write(fd, data)
    if written == len(data):
        return  # all at once, as nearly every write goes
    view = memoryview(data)[written:]
    while view:
        if _fault is not None:
            _fault.check(fd, view)
        view = view[os.write(fd, view) :]


class _Fault:
    """A failure `failing_writes` injects (a plain class: a dataclass would load `inspect`
    into every reader of the store)."""

    def __init__(self, code: int, after: int, partial: bool) -> None:
        self.code, self.after, self.partial = code, after, partial

    def check(self, fd: int, view: memoryview) -> None:
        if self.after > 0:
            self.after -= 1
            return
        if self.partial and len(view) > 1:
            os.write(fd, view[: len(view) // 2])
        raise OSError(self.code, os.strerror(self.code))


_fault: _Fault | None = None


@contextlib.contextmanager
def failing_writes(
    code: int = errno.ENOSPC, *, after: int = 0, partial: bool = False
) -> Iterator[None]:
    """For tests: writes fail with `code` (a full disk by default) once `after` writes have
    succeeded; with `partial`, a failing write first writes half its bytes, as a write cut
    short by a filling disk does."""
    global _fault
    _fault = _Fault(code, after, partial)
    try:
        yield
    finally:
        _fault = None


class AppendLog:
    """An open line log: each `append` writes whole lines at once; those appended with
    `sync` are made durable by the next `flush`, so lines appended together cost one
    `fdatasync`.

    `flush` may run in another thread while lines are appended: it syncs what was written
    when it began, and `close` waits for it. A failed append is cut back off, so a write
    cut short (say, by a full disk) cannot end up in the middle of the log under the next
    append.
    """

    def __init__(self, path: Path, *, dir_fd: int | None = None) -> None:
        """Open (or create) the log at `path`; with `dir_fd`, the log named `path.name` in
        that open directory, which spares the kernel walking the whole path."""
        self.path = path
        name = path if dir_fd is None else path.name
        self._fd = open_regular(name, os.O_RDWR | os.O_APPEND | os.O_CREAT, dir_fd=dir_fd)
        self._end = os.fstat(self._fd).st_size  # only the lock holder appends: ours to track
        self._dirty = self._synced = self._end  # the ends of what must be, and is, durable
        self._syncing = threading.Lock()
        self._torn = False

    @property
    def unsynced(self) -> bool:
        """True while lines appended with `sync` wait for a `flush`."""
        return self._synced < self._dirty

    def append(self, data: bytes, *, sync: bool = True) -> None:
        if self._torn:
            raise OSError(errno.EIO, f"{self.path} ends with a failed write; claim the run again")
        try:
            write_all(self._fd, data)
        except OSError:
            self._cut_back()
            raise
        self._end += len(data)
        if sync:
            self._dirty = self._end

    def flush(self) -> None:
        """Make every line appended with `sync` durable. A failed sync leaves the lines'
        fate unknown, so the log takes no more appends."""
        with self._syncing:
            target = self._dirty
            if self._synced >= target:
                return
            try:
                oslayer.flush_data(self._fd)
            except OSError:
                self._torn = True
                raise
            self._synced = target

    def read(self) -> bytes:
        """The log's bytes as they are now."""
        os.lseek(self._fd, 0, os.SEEK_SET)  # appends go to the end whatever the offset
        return _read_all(self._fd)

    def cut_to(self, size: int) -> None:
        """Cut a torn tail off the log, durably, before anything is appended after it."""
        if size < self._end:
            os.ftruncate(self._fd, size)  # the open file: never one a symlink put at its name
            oslayer.flush_file(self._fd)
            self._end = self._dirty = self._synced = size

    def _cut_back(self) -> None:
        """Drop what a failed append wrote; if even that fails, refuse further appends."""
        try:
            os.ftruncate(self._fd, self._end)
        except OSError:
            self._torn = True

    def close(self) -> None:
        with self._syncing:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def sync_together(logs: Sequence[AppendLog]) -> bool:
    """Make the lines of all `logs` appended with `sync` durable with one `syncfs` of their
    file system (they must share one), where N `fdatasync`s would each wait for the disk.
    False when that cannot be done here or fails: the caller then flushes each log alone,
    and learns which of them failed."""
    syncfs = oslayer.syncfs()
    if syncfs is None or oslayer.unwritten_bytes() > SYNCFS_LIMIT:
        return False
    unique = list(dict.fromkeys(logs))  # a run with tasks side by side asks once per task
    with contextlib.ExitStack() as held:
        for log in unique:
            held.enter_context(log._syncing)  # held throughout: `flush` and `close` wait
        pending = [(log, log._dirty) for log in unique if log._synced < log._dirty]
        if not pending:
            return True
        if any(log._fd < 0 or log._torn for log, _ in pending):
            return False
        try:
            syncfs(pending[0][0]._fd)
        except OSError:
            return False  # perhaps another file's failed write-back: let each log find out
        for log, target in pending:
            log._synced = target
    return True


# syncfs writes out whatever waits on the file system, other programs' writes included:
# it is used only while the machine has less than this waiting, so that a large unrelated
# write (a copy, a build) never lands in a run's sync.
SYNCFS_LIMIT = 64 << 20


def read_file(path: Path | str, *, dir_fd: int | None = None) -> bytes:
    """A whole file's bytes: open, fstat, read and close, with no file object around them.
    With `dir_fd`, `path` is looked up in that open directory."""
    fd, found = _open_regular(path, os.O_RDONLY, FILE_MODE, dir_fd)
    try:
        return _read_all(fd, found.st_size)
    finally:
        os.close(fd)


def _read_all(fd: int, size: int | None = None) -> bytes:
    """From `fd`'s offset to the end; `size`: the file's, if known."""
    want = (os.fstat(fd).st_size if size is None else size) + 1  # did it grow since?
    chunks = [os.read(fd, want)]
    while len(chunks[-1]) == want:  # it did: read on to the end
        want = 1 << 16
        chunks.append(os.read(fd, want))
    return b"".join(chunks)


def read_from(path: Path, offset: int) -> bytes:
    """A log's bytes from `offset` to its end, as they are now; a missing log reads as empty."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return b""
    try:
        os.lseek(fd, offset, os.SEEK_SET)
        return _read_all(fd, max(0, os.fstat(fd).st_size - offset))
    finally:
        os.close(fd)


def file_size(path: Path) -> int:
    """The size of the file at `path`; 0 when there is none."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def read_lines(path: Path) -> tuple[list[bytes], int]:
    """The complete lines of a log and the size they fill; a torn last line is left out.

    A missing file reads as empty.
    """
    try:
        return split_lines(read_file(path))
    except FileNotFoundError:
        return [], 0


def split_lines(data: bytes) -> tuple[list[bytes], int]:
    """The complete lines in `data` and the size they fill; a torn last line is left out."""
    end = data.rfind(b"\n") + 1
    # Split at newlines alone (not at a stray \r), so line numbers match an editor's.
    return (data[: end - 1].split(b"\n") if end else []), end


def truncate_to(path: Path, size: int) -> None:
    """Cut a torn tail off a log, durably, before anything is appended after it."""
    fd = open_regular(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        oslayer.flush_file(fd)
    finally:
        os.close(fd)


_CHUNK = 64 * 1024  # what `lines_backwards` reads at a time


def lines_backwards(path: Path) -> Iterator[bytes]:
    """The complete lines of a file, last first, reading it from its end in chunks."""
    try:
        file = os.fdopen(open_regular(path, os.O_RDONLY), "rb")
    except FileNotFoundError:
        return
    with file:
        position = file.seek(0, os.SEEK_END)
        tail, at_end = b"", True
        while position > 0:
            step = min(_CHUNK, position)
            position -= step
            file.seek(position)
            lines = (file.read(step) + tail).split(b"\n")
            tail = lines.pop(0)  # its start may lie in the chunk before
            if at_end and lines:
                lines.pop()  # what follows the last newline is a torn line, or nothing
                at_end = False
            yield from (line for line in reversed(lines) if line)
        if tail and not at_end:
            yield tail
