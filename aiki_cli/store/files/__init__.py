"""The file store: a directory of plain JSON files, the default store (see `layout`).
`FileStore` and `FileClaim` are imported when first asked for: `light`, the read of a run
without pydantic, loads neither."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .claim import FileClaim
    from .store import FileStore

__all__ = ["FileClaim", "FileStore"]


def __getattr__(name: str) -> Any:
    if name == "FileStore":
        from .store import FileStore

        return FileStore
    if name == "FileClaim":
        from .claim import FileClaim

        return FileClaim
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
