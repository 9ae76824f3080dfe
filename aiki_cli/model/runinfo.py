"""What a run is: its immutable start record (`run.json`) and the view of it that
`status --json` prints, derived from the journal."""

import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from ..errors import RunCancelled, RunFailed
from ..values.ids import new_run_id
from .entry import ErrorInfo
from .status import RunStatus
from .waiting import WaitingFor

FORMAT = 1


class ForkOrigin(BaseModel):
    """Where a forked run came from: the run, and the call of one of its tasks (the
    `call`-th of `task`, from 1) from which the fork executes again."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    run_id: str
    task: str
    call: int = 1

    def __str__(self) -> str:
        return f"run {self.run_id} at {self.task}#{self.call}"


class RunSpec(BaseModel):
    """`run.json`: written once, when the run is created."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    format: int = FORMAT
    id: str
    workflow: str
    version: str
    input: Any = None
    created_at: datetime
    idempotency_key: str | None = None
    parent_id: str | None = None
    not_before: datetime | None = None
    forked_from: ForkOrigin | None = None

    @property
    def ref(self) -> str:
        return f"{self.workflow}@{self.version}"

    @model_serializer(mode="wrap")
    def _unforked_as_before(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A run that is no fork is written as before forks existed; an aiki that predates
        them reads a fork's `run.json` too (it ignores `forked_from`): format 1 either way."""
        data: dict[str, Any] = handler(self)
        if self.forked_from is None:
            data.pop("forked_from", None)
        return data


def new_spec(
    workflow: str,
    version: str,
    input: Any,
    now: datetime,
    *,
    idempotency_key: str | None = None,
    parent_id: str | None = None,
    not_before: datetime | None = None,
    forked_from: ForkOrigin | None = None,
) -> RunSpec:
    """The start record of a new run, with a fresh id."""
    return RunSpec(
        id=new_run_id(now, secrets.token_bytes(10)),
        workflow=workflow,
        version=version,
        input=input,
        created_at=now,
        idempotency_key=idempotency_key,
        parent_id=parent_id,
        not_before=not_before,
        forked_from=forked_from,
    )


class TaskInfo(BaseModel):
    """One call of a task as the journal tells it."""

    model_config = ConfigDict(defer_build=True)

    name: str
    hash: str
    status: str
    attempts: int
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: float | None = None
    error: ErrorInfo | None = None


class ProgressInfo(BaseModel):
    """The run's latest progress entry: what it said, how far (0 to 1, if it said), when."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    message: str
    fraction: float | None = None
    at: datetime


class RunInfo(BaseModel):
    """A run's current state: the document `status --json` prints."""

    model_config = ConfigDict(defer_build=True)

    id: str
    workflow: str
    version: str
    status: RunStatus
    input: Any = None
    result: Any = None
    error: ErrorInfo | None = None
    created_at: datetime
    updated_at: datetime
    attempt: int = 1
    recoveries: int = 0
    cancel_requested: bool = False
    idempotency_key: str | None = None
    parent_id: str | None = None
    forked_from: ForkOrigin | None = None
    due_at: datetime | None = None
    waiting_for: WaitingFor | None = None
    progress: ProgressInfo | None = None
    # pydantic copies a list default for each model. A factory (`default_factory=list`)
    # costs a process's first RunInfo ~4 ms more: pydantic reads the builtin's signature,
    # which compiles `tokenize`'s patterns.
    children: list[str] = []
    tasks: list[TaskInfo] = []

    def document(self, *, full: bool = True) -> dict[str, Any]:
        """The stable JSON document; without input and result when not `full` (for lists)."""
        exclude = None if full else {"input", "result", "tasks", "children"}
        doc = self.model_dump(mode="json", exclude=exclude)  # one call: tasks too
        if self.status != RunStatus.COMPLETED:
            doc.pop("result", None)
        if self.forked_from is None:
            doc.pop("forked_from", None)
        if self.error is None:
            doc.pop("error", None)
        else:
            doc["error"] = self.error.model_dump(mode="json", exclude_none=True)
        return doc

    def raise_for_outcome(self) -> None:
        """Raise the error of the run's outcome: `RunFailed` when it failed, `RunCancelled`
        when it was cancelled; nothing when it completed or has not ended."""
        if self.status == RunStatus.FAILED:
            error = self.error
            raise RunFailed(
                self.id, error.type if error else "Error", error.message if error else ""
            )
        if self.status == RunStatus.CANCELLED:
            raise RunCancelled(self.id)


class DamagedRun(BaseModel):
    """A run whose files cannot be read, as `aiki list` shows it; `aiki doctor` says why."""

    model_config = ConfigDict(defer_build=True)

    id: str
    workflow: str
    version: str
    status: Literal["damaged"] = "damaged"
    error: dict[str, Any]  # type, message, and the damaged file (and line)

    def document(self, *, full: bool = True) -> dict[str, Any]:
        return self.model_dump(mode="json")
