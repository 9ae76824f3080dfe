"""Journal entries: one JSON object per line of a run's `journal.jsonl`, tagged by `type`.

The journal is the source of truth of a run; everything else about it is derived.
Entries are append-only and never rewritten.

aiki's models build their validators on first use (`defer_build`), not at import: a
worker process starts sooner, and pays only for the entries its runs meet.
"""

import functools
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ..errors import describe
from .failure import format_traceback
from .status import RunStatus


class ErrorInfo(BaseModel):
    """An error as recorded: its type name and message (and the task, for task failures),
    and the traceback of the user's code that raised it (absent from older journals)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    type: str
    message: str
    task: str | None = None
    traceback: str | None = None

    @classmethod
    def of(cls, error: BaseException) -> Self:
        return cls(**describe(error), traceback=format_traceback(error))


class _Entry(BaseModel):
    """Fields run `type`, `at`, then the rest, so each line reads from its left end."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, defer_build=True)


class StatusChanged(_Entry):
    type: Literal["status"] = "status"
    at: datetime
    old: RunStatus = Field(alias="from")
    new: RunStatus = Field(alias="to")
    attempt: int = 1
    reason: str | None = None
    worker: str | None = None
    until: datetime | None = None
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
    """A task attempt raised; with `retry_at`, another attempt follows at that time."""

    type: Literal["task_failed"] = "task_failed"
    at: datetime
    task: str
    hash: str
    error: ErrorInfo
    attempt: int = 1
    retry_at: datetime | None = None


class Recovered(_Entry):
    """A worker took over a run whose previous worker died while executing it."""

    type: Literal["recovered"] = "recovered"
    at: datetime
    count: int
    worker: str | None = None


class SleepStarted(_Entry):
    """The `seq`-th sleep named `name` began; it ends at `until` unless woken first."""

    type: Literal["sleep_started"] = "sleep_started"
    at: datetime
    name: str
    seq: int
    until: datetime


class SleepEnded(_Entry):
    type: Literal["sleep_ended"] = "sleep_ended"
    at: datetime
    name: str
    seq: int
    woken: bool = False


class EventReceived(_Entry):
    """An event was delivered to the run (in the order events are consumed)."""

    type: Literal["event_received"] = "event_received"
    at: datetime
    name: str
    key: str
    data: Any = None
    reference_id: str | None = None


class EventWaited(_Entry):
    """The `seq`-th wait for event `name` began; it times out at `until`, if set."""

    type: Literal["event_wait"] = "event_wait"
    at: datetime
    name: str
    seq: int
    until: datetime | None = None


class EventTimedOut(_Entry):
    type: Literal["event_timeout"] = "event_timeout"
    at: datetime
    name: str
    seq: int


class ChildStarted(_Entry):
    """The run started its `seq`-th child run."""

    type: Literal["child_started"] = "child_started"
    at: datetime
    seq: int
    child: str
    workflow: str
    version: str


class ChildEnded(_Entry):
    """The run saw a child end; replay gives the awaiting code this outcome."""

    type: Literal["child_ended"] = "child_ended"
    at: datetime
    child: str
    status: RunStatus
    result: Any = None
    error: ErrorInfo | None = None


class Progress(_Entry):
    """The workflow's word on how far it got (`run.progress`): shown by `status` and to
    followers; replay neither repeats it nor matches calls against it."""

    type: Literal["progress"] = "progress"
    at: datetime
    message: str
    fraction: float | None = None


Entry = Annotated[
    StatusChanged
    | TaskStarted
    | TaskCompleted
    | TaskFailed
    | Recovered
    | SleepStarted
    | SleepEnded
    | EventReceived
    | EventWaited
    | EventTimedOut
    | ChildStarted
    | ChildEnded
    | Progress,
    Field(discriminator="type"),
]
_TYPES: dict[bytes, type[_Entry]] = {
    model.model_fields["type"].default.encode(): model for model in _Entry.__subclasses__()
}
_TYPE_FIRST = b'{"type":"'  # how `dump_entry` begins every line
ENTRY_TYPES = frozenset(name.decode() for name in _TYPES)


def parse_entry(line: bytes | str) -> Entry:
    """One journal line as an entry; raises pydantic's `ValidationError` on bad lines."""
    data = line.encode() if isinstance(line, str) else line
    if data.startswith(_TYPE_FIRST):
        model = _TYPES.get(data[len(_TYPE_FIRST) : data.find(b'"', len(_TYPE_FIRST))])
        if model is not None:
            return model.model_validate_json(data)  # type: ignore[return-value]
    return _any_entry().validate_json(data)  # written some other way: the union decides


@functools.cache
def _any_entry() -> TypeAdapter[Entry]:
    return TypeAdapter(Entry)


def dump_entry(entry: Entry) -> bytes:
    """One journal line, without its newline. The model's serializer gives the bytes
    `model_dump_json` would decode to text (half a line's cost, which every step pays)."""
    return entry.__pydantic_serializer__.to_json(entry, by_alias=True, exclude_none=True)
