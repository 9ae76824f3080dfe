"""Where runs are kept: the `Store` contract, and `open_store`, which picks a store.

`base` states the contract every store keeps (what each operation does and raises);
`files` is the default store (a directory of JSON files), `postgres` the one for workers
on many hosts (a `postgresql://` URL), and `memory` the one for tests.
An implementation is imported only when a location chooses it, and the contract when
first asked for: a light read of the file store (`files.light`) loads neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import REQUESTS, Claim, Mail, Request, RunRef, ServedStore, Store, Timer
    from .files import FileStore
    from .memory import MemoryStore
    from .report import Finding, Report

_CONTRACT = ("REQUESTS", "Claim", "Mail", "Request", "RunRef", "ServedStore", "Store", "Timer")

__all__ = [
    "REQUESTS",
    "Claim",
    "FileStore",
    "Finding",
    "Mail",
    "MemoryStore",
    "Report",
    "Request",
    "RunRef",
    "ServedStore",
    "Store",
    "Timer",
    "open_store",
]


def open_store(location: str | Path | Store) -> Store:
    """The store at `location`: a directory path, a `postgresql://` (or `postgres://`)
    URL, ':memory:', or a store itself."""
    from .base import Store

    if isinstance(location, Store):
        return location
    if str(location).startswith(("postgresql://", "postgres://")):
        from .postgres import open_postgres

        return open_postgres(str(location))
    if str(location) == ":memory:":
        from .memory import MemoryStore

        return MemoryStore()
    from .files import FileStore

    return FileStore(Path(location))


def __getattr__(name: str) -> Any:
    """The contract, `FileStore` and `MemoryStore`, imported when first asked for."""
    if name in _CONTRACT:
        from . import base

        return getattr(base, name)
    if name in ("Finding", "Report"):
        from . import report

        return getattr(report, name)
    if name == "FileStore":
        from .files import FileStore

        return FileStore
    if name == "MemoryStore":
        from .memory import MemoryStore

        return MemoryStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
