"""The in-memory store: the same contract as the file store, for tests and embedding."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .entry import Entry
from .errors import RunNotFound
from .ids import check_run_id
from .record import RunSpec
from .store import RunRef


@dataclass
class _Run:
    spec: RunSpec
    entries: list[Entry] = field(default_factory=list)
    cancel: bool = False
    claimed: bool = False


class MemoryStore:
    location = ":memory:"

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._ready: dict[str, None] = {}
        self._workers: dict[str, dict[str, Any]] = {}
        self._mutex = threading.Lock()

    def _run(self, run_id: str) -> _Run:
        run_id = check_run_id(run_id)
        run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound(run_id, self.location)
        return run

    def create_run(self, spec: RunSpec) -> RunSpec:
        with self._mutex:
            if spec.idempotency_key is not None:
                key = (spec.workflow, spec.idempotency_key)
                if key in self._keys:
                    return self._runs[self._keys[key]].spec
                self._keys[key] = spec.id
            self._runs[spec.id] = _Run(spec)
            self._ready[spec.id] = None
        return spec

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]:
        with self._mutex:
            run = self._run(run_id)
            return run.spec, list(run.entries)

    def list_runs(self) -> Iterator[RunRef]:
        with self._mutex:
            specs = [run.spec for run in self._runs.values()]
        for spec in reversed(specs):
            yield RunRef(spec.id, spec.workflow, spec.version)

    def ready_runs(self) -> list[str]:
        with self._mutex:
            return sorted(self._ready)

    def claim(self, run_id: str) -> MemoryClaim | None:
        with self._mutex:
            run = self._run(run_id)
            if run.claimed:
                return None
            run.claimed = True
            return MemoryClaim(self, run)

    def request_cancel(self, run_id: str) -> None:
        with self._mutex:
            run = self._run(run_id)
            run.cancel = True
            self._ready[run.spec.id] = None

    def cancel_requested(self, run_id: str) -> bool:
        with self._mutex:
            return self._run(run_id).cancel

    def _set_ready(self, run_id: str, ready: bool) -> None:
        with self._mutex:
            if ready:
                self._ready[run_id] = None
            else:
                self._ready.pop(run_id, None)

    @contextlib.contextmanager
    def register_worker(self, worker_id: str, info: dict[str, Any]) -> Iterator[None]:
        with self._mutex:
            if worker_id in self._workers:
                raise RuntimeError(f"worker id {worker_id} is already in use")
            self._workers[worker_id] = info
        try:
            yield
        finally:
            with self._mutex:
                self._workers.pop(worker_id, None)

    def live_workers(self) -> list[dict[str, Any]]:
        with self._mutex:
            return list(self._workers.values())


class MemoryClaim:
    def __init__(self, store: MemoryStore, run: _Run) -> None:
        self.spec = run.spec
        self.entries = list(run.entries)
        self._store = store
        self._run = run
        self._held = True

    def append(self, *entries: Entry, sync: bool = True) -> None:
        with self._store._mutex:
            self._run.entries.extend(entries)
        self.entries.extend(entries)

    def cancel_requested(self) -> bool:
        return self._run.cancel

    def set_ready(self, ready: bool) -> None:
        self._store._set_ready(self.spec.id, ready)

    def release(self) -> None:
        with self._store._mutex:
            if self._held:  # a second release must not free a later claim of the run
                self._held = False
                self._run.claimed = False
