"""The file store: a directory of plain JSON files, the default store (see `layout`)."""

from .claim import FileClaim
from .store import FileStore

__all__ = ["FileClaim", "FileStore"]
