"""The reads of the front door (`cli/door.py`), without pydantic: a run's `status --json`
document and `list --json`'s rows, where the store allows a light read (the file store,
`files/light.py`). For any other store, and anything a light read is unsure of, `Unsure`:
the caller hands the command to the app."""

from __future__ import annotations

from pathlib import Path

from ..model.light import Unsure
from ..model.plain import Record

__all__ = ["Unsure", "list_documents", "run_document"]


def run_document(location: str, run_id: str) -> Record:
    """`status --json`'s document of the run `run_id` (valid, lower-case) at `location`."""
    from .files.light import run_document

    return run_document(_directory(location), run_id)


def list_documents(
    location: str, status: str | None, workflow: str | None, version: str | None, limit: int
) -> list[Record]:
    """`list --json`'s rows: at most `limit` runs newest first, filtered as `Client.list`."""
    from .files.light import list_documents

    return list_documents(_directory(location), status, workflow, version, limit)


def _directory(location: str) -> Path:
    """The file store's existing directory at `location`; `Unsure` for any other store."""
    if location.startswith(("postgresql://", "postgres://")) or not Path(location).is_dir():
        raise Unsure(f"{location}: no file store a light read serves")
    return Path(location)
