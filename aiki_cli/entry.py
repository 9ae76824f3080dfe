"""Journal entries: one JSON object per line of a run's `journal.jsonl`, tagged by `type`.

The journal is the source of truth of a run; everything else about it is derived.
Entries are append-only and never rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .status import RunStatus


class ErrorInfo(BaseModel):
    """An error as recorded: its type name and message (and the task, for task failures)."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    task: str | None = None


class _Entry(BaseModel):
    """Fields run `type`, `at`, then the rest, so each line reads from its left end."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class StatusChanged(_Entry):
    type: Literal["status"] = "status"
    at: datetime
    old: RunStatus = Field(alias="from")
    new: RunStatus = Field(alias="to")
    attempt: int = 1
    reason: str | None = None
    worker: str | None = None
    result: Any = None
    error: ErrorInfo | None = None


class TaskStarted(_Entry):
    type: Literal["task_started"] = "task_started"
    at: datetime
    task: str
    hash: str
    input: Any = None
    attempt: int = 1


class TaskCompleted(_Entry):
    type: Literal["task_completed"] = "task_completed"
    at: datetime
    task: str
    hash: str
    output: Any = None
    attempt: int = 1


class TaskFailed(_Entry):
    type: Literal["task_failed"] = "task_failed"
    at: datetime
    task: str
    hash: str
    error: ErrorInfo
    attempt: int = 1


class Recovered(_Entry):
    """A worker took over a run whose previous worker died while executing it."""

    type: Literal["recovered"] = "recovered"
    at: datetime
    count: int
    worker: str | None = None


Entry = Annotated[
    StatusChanged | TaskStarted | TaskCompleted | TaskFailed | Recovered,
    Field(discriminator="type"),
]
_ENTRY: TypeAdapter[Entry] = TypeAdapter(Entry)


def parse_entry(line: bytes | str) -> Entry:
    """One journal line as an entry; raises pydantic's `ValidationError` on bad lines."""
    return _ENTRY.validate_json(line)


def dump_entry(entry: Entry) -> bytes:
    """One journal line, without its newline."""
    return entry.model_dump_json(by_alias=True, exclude_none=True).encode()
