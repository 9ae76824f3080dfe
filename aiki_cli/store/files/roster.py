"""The roster of live workers in a file store's `workers/` folder.

    workers/<id>.lock   locked (flock) by the worker <id> for as long as it lives
    workers/<id>.json   who it is: its pid, the workflows it loads

A lock file shows under its name only once its worker holds the lock: it is made and
locked under a hidden temporary name, then renamed into place. So a reader that finds a
lock file free knows that its worker has gone, and readers only read: they never create,
rename or delete a file here. Whoever changes the names here (a worker signing on or off,
the clearing of dead workers' files) holds the lock of the folder itself meanwhile, so a
lock file found free then stays free until it is deleted: nobody can be holding it.

Dead workers' files are cleared when a worker signs on, and by `aiki doctor --repair`.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from .lock import FileLock, holding_dir, lock_new, try_lock
from .syncio import atomic_write, read_file

LOCK, INFO, TEMP = ".lock", ".json", ".tmp"


class Roster:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def sign_on(self, worker_id: str, info: dict[str, Any]) -> FileLock:
        """List the worker as live until `sign_off` (or its death): the lock it must hold
        meanwhile. `RuntimeError` when a live worker has its id. The folder must exist."""
        with holding_dir(self.folder):
            self._clear_gone_locked()
            if self._holder(worker_id) is not None:
                raise RuntimeError(f"worker id {worker_id} is already in use")
            temp = self.folder / f".{worker_id}.{secrets.token_hex(6)}{TEMP}"
            lock = lock_new(temp)
            try:
                atomic_write(self.folder / f"{worker_id}{INFO}", json.dumps(info).encode())
                os.rename(temp, self.folder / f"{worker_id}{LOCK}")  # in place, locked
            except BaseException:
                self._remove_locked(worker_id)
                temp.unlink(missing_ok=True)
                lock.release()
                raise
        return lock

    def sign_off(self, worker_id: str, lock: FileLock) -> None:
        """Take the worker off the roster, then let its lock go."""
        try:
            with holding_dir(self.folder):
                self._remove_locked(worker_id)
        finally:
            lock.release()

    def live(self) -> list[dict[str, Any]]:
        """The info of every live worker, by id; reads only."""
        found = []
        for worker_id in self._ids():
            if self._holder(worker_id) is True:
                found.append(self._info(worker_id))
        return found

    def gone(self) -> list[str]:
        """The ids of workers that are gone but left files behind."""
        if not self.folder.is_dir():
            return []
        with holding_dir(self.folder):
            return [worker_id for worker_id in self._ids() if not self._holder(worker_id)]

    def clear(self, worker_id: str) -> None:
        """Delete the files of the worker `worker_id` if it is gone."""
        with holding_dir(self.folder):
            if not self._holder(worker_id):
                self._remove_locked(worker_id)

    def _clear_gone_locked(self) -> None:
        for worker_id in self._ids():
            if not self._holder(worker_id):
                self._remove_locked(worker_id)

    def _remove_locked(self, worker_id: str) -> None:
        (self.folder / f"{worker_id}{LOCK}").unlink(missing_ok=True)
        (self.folder / f"{worker_id}{INFO}").unlink(missing_ok=True)

    def _ids(self) -> list[str]:
        """The worker ids named by the files here (temp files left out)."""
        try:
            names = os.listdir(self.folder)
        except (FileNotFoundError, NotADirectoryError):
            return []
        ids = {
            name.removesuffix(suffix)
            for name in names
            for suffix in (LOCK, INFO)
            if name.endswith(suffix) and not name.startswith(".")
        }
        return sorted(ids)

    def _holder(self, worker_id: str) -> bool | None:
        """True when a live worker holds `worker_id`'s lock; False when its files are a
        dead worker's (or not a worker's at all); None when there are none."""
        path = self.folder / f"{worker_id}{LOCK}"
        try:
            lock = try_lock(path)
        except FileNotFoundError:
            return None if not (self.folder / f"{worker_id}{INFO}").exists() else False
        except OSError:  # not a regular file (a symlink, say): no worker's
            return False
        if lock is None:
            return True
        lock.release()
        return False

    def _info(self, worker_id: str) -> dict[str, Any]:
        try:
            info = json.loads(read_file(self.folder / f"{worker_id}{INFO}"))
        except (OSError, ValueError):
            return {"id": worker_id}  # signing off meanwhile
        return info if isinstance(info, dict) else {"id": worker_id}
