"""The file store: a directory of plain JSON files, the default store (see `layout`)."""

from .store import FileClaim, FileStore

__all__ = ["FileClaim", "FileStore"]
