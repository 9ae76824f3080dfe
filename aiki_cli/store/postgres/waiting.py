"""A stop signal for the store's background threads, which block on a connection's socket
until the server sends something or they are told to stop: no polling in between, so a
notification is acted on when it arrives and a worker's exit does not wait for a tick."""

from __future__ import annotations

import os
import select
import threading


class Stop:
    """Set once; wakes every thread blocked in `wait` or `readable` at once."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self._set = threading.Event()

    def set(self) -> None:
        if not self._set.is_set():
            self._set.set()
            os.write(self._write, b".")

    def is_set(self) -> bool:
        return self._set.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, or until set; whether it is set."""
        return self._set.wait(timeout)

    def readable(self, fd: int) -> bool:
        """Block until `fd` has something to read (True) or this is set (False)."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(self._read, select.POLLIN)
        while not self._set.is_set():
            if poller.poll():
                return not self._set.is_set()
        return False

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)
