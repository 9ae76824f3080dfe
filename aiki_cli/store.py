"""The storage interface: a small set of domain operations the engine needs.

`FileStore` (a directory of JSON files) is the default; `MemoryStore` ships for tests.
Both pass one contract test suite. A database-backed store for workers on many hosts
implements the same two protocols and nothing in the engine changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .entry import Entry
from .record import RunSpec


class RunRef(NamedTuple):
    """A run as the creation index lists it."""

    id: str
    workflow: str
    version: str


class Claim(Protocol):
    """The exclusive right to execute one run and write its journal, until `release`."""

    spec: RunSpec
    entries: list[Entry]

    def append(self, *entries: Entry, sync: bool = True) -> None:
        """Add entries to the journal; with `sync`, durably before returning."""
        ...

    def cancel_requested(self) -> bool: ...

    def set_ready(self, ready: bool) -> None:
        """Put the run in the ready queue, or take it out."""
        ...

    def release(self) -> None: ...


@runtime_checkable
class Store(Protocol):
    location: str

    def create_run(self, spec: RunSpec) -> RunSpec:
        """Store a new pending run and queue it; if its idempotency key already started a
        run, store nothing and return that run's spec instead."""
        ...

    def read_run(self, run_id: str) -> tuple[RunSpec, list[Entry]]: ...

    def list_runs(self) -> Iterator[RunRef]:
        """Every run, newest first, without reading any run's files."""
        ...

    def ready_runs(self) -> list[str]:
        """Ids of the runs waiting for a worker (pending, or running with a dead worker)."""
        ...

    def claim(self, run_id: str) -> Claim | None:
        """The run's claim, or None when another worker holds it."""
        ...

    def request_cancel(self, run_id: str) -> None:
        """Ask whoever executes the run to cancel it at its next task boundary."""
        ...

    def cancel_requested(self, run_id: str) -> bool: ...

    def register_worker(self, worker_id: str, info: dict[str, Any]) -> AbstractContextManager[None]:
        """Announce a live worker for as long as the context is open."""
        ...

    def live_workers(self) -> list[dict[str, Any]]: ...


def open_store(location: str | Path | Store) -> Store:
    """The store at `location`: a directory path, ':memory:', or a store itself."""
    from .filestore import FileStore
    from .memstore import MemoryStore

    if isinstance(location, Store):
        return location
    if str(location) == ":memory:":
        return MemoryStore()
    return FileStore(Path(location))
