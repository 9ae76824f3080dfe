"""Every error aiki raises, with the exit code the CLI turns it into (SPEC §6).

    AikiError                        exit 1
    ├── BadInput (ValueError)        exit 2: fix the command or its input
    │   ├── InvalidJSON
    │   ├── InputInvalid
    │   ├── InvalidRunId
    │   ├── IdempotencyConflict
    │   ├── IllegalTransition
    │   ├── WorkflowLoadError
    │   ├── ConfigError
    │   └── ExtraMissing             a command needs an optional extra: `pip install 'aiki[…]'`
    ├── NotFound (LookupError)       exit 4
    │   ├── RunNotFound
    │   ├── WorkflowNotFound
    │   └── ScheduleNotFound
    ├── WaitTimeout (TimeoutError)   exit 5
    │   └── NoWorker                 no worker loading the run's workflow came along
    ├── RunNotEnded                  exit 5: `status --exit-code` of a run not ended yet
    ├── RunFailed                    exit 1: the awaited run failed
    ├── RunCancelled                 exit 3: the awaited run was cancelled
    ├── RunDamaged                   exit 1: a run's files cannot be read (not 4: the run
    │                                exists; `aiki doctor` says how to repair it)
    ├── StoreUnwritable              exit 1: the store cannot be written (a full disk)
    │   └── StoreUnreachable         exit 1: the database server cannot be reached
    ├── SchemaNotReady               exit 1: the database lacks aiki's tables (`aiki db migrate`)
    ├── PostgresMissing (BadInput)   exit 2: a postgresql:// store without `aiki[postgres]`
    ├── Interrupted                  exit 130: Ctrl-C stopped a run executing in the CLI
    ├── TaskFailed                   what workflow code sees when a task raised
    ├── TaskTimeout (TimeoutError)   a task attempt ran past its `timeout`
    ├── ChildFailed                  … when a child run it awaits failed
    ├── ChildCancelled               … when a child run it awaits was cancelled
    ├── DivergenceError              the code no longer matches the run's journal
    └── RecoveryLimitExceeded        the run's worker died too many times

The engine's own control flow (suspend, cancel, release) is in `signals.py`.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any


class AikiError(Exception):
    """aiki failed."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


class BadInput(AikiError, ValueError):
    """The command or its input is not valid."""

    exit_code = 2


class InvalidJSON(BadInput):
    """The input is not valid JSON."""

    def __init__(self, source: str, detail: str) -> None:
        self.source = source
        super().__init__(f"{source} is not valid JSON: {detail}")


class InputInvalid(BadInput):
    """A value does not fit its schema."""

    def __init__(self, what: str, detail: str) -> None:
        self.what = what
        self.detail = detail
        super().__init__(f"{what} is invalid: {detail}")


class InvalidRunId(BadInput):
    """That is not a run id."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        shown = run_id if len(run_id) <= 40 else run_id[:40] + "…"
        super().__init__(
            f"{shown!r} is not a run id: ids are 26 letters and digits as printed by `aiki start`"
        )


class IdempotencyConflict(BadInput):
    """The idempotency key already belongs to a run started differently."""

    def __init__(self, key: str, run_id: str, difference: str) -> None:
        self.key = key
        self.run_id = run_id
        super().__init__(
            f"idempotency key {key!r} already started run {run_id} with a different {difference}; "
            "use a new key or the same input"
        )


class IllegalTransition(BadInput):
    """That status change is not allowed."""

    def __init__(self, run_id: str, current: str, action: str, hint: str = "") -> None:
        self.run_id = run_id
        self.current = current
        self.action = action
        message = f"run {run_id} is {current} and cannot {action}"
        super().__init__(f"{message}; {hint}" if hint else message)


class WorkflowLoadError(BadInput):
    """A workflow module could not be loaded."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"{path}: {detail}")


class ConfigError(BadInput):
    """The configuration is not valid."""


class RunExists(BadInput):
    """A run with that id (or idempotency key) is already in the store."""

    def __init__(self, run_id: str, where: str, hint: str = "") -> None:
        self.run_id = run_id
        hint = hint or "remove it there first, or import with --new-id to give it a new id"
        super().__init__(f"run {run_id} already exists in {where}; {hint}")


class ExtraMissing(BadInput):
    """This command needs an optional extra that is not installed."""

    def __init__(self, command: str, extra: str, missing: str) -> None:
        self.extra = extra
        super().__init__(
            f"{command} needs the {extra!r} extra ({missing} is missing): "
            f"pip install 'aiki[{extra}]'"
        )


class NotFound(AikiError, LookupError):
    """Not found."""

    exit_code = 4


class RunNotFound(NotFound):
    """No run has that id."""

    def __init__(self, run_id: str, where: str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {run_id} in {where}; `aiki list` shows the runs there")


class WorkflowNotFound(NotFound):
    """No workflow has that name and version."""

    def __init__(self, ref: str, known: Sequence[str]) -> None:
        self.ref = ref
        self.known = list(known)
        listed = ", ".join(known) if known else "none"
        super().__init__(f"unknown workflow {ref!r}; known: {listed}")


class ScheduleNotFound(NotFound):
    """No schedule has that id."""

    def __init__(self, schedule_id: str, where: str) -> None:
        self.schedule_id = schedule_id
        shown = schedule_id if len(schedule_id) <= 64 else schedule_id[:64] + "…"
        super().__init__(
            f"no schedule {shown!r} in {where}; `aiki schedule list` shows the schedules there"
        )


class WaitTimeout(AikiError, TimeoutError):
    """Timed out waiting for the run."""

    exit_code = 5

    def __init__(self, run_id: str, timeout: float, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} is still {status} after {timeout:g}s")


class NoWorker(WaitTimeout):
    """No worker that loads the run's workflow has been running to execute it."""

    def __init__(self, run_id: str, ref: str, limit: float, status: str) -> None:
        self.run_id = run_id
        self.status = status
        self.ref = ref
        AikiError.__init__(
            self,
            f"run {run_id} is still {status}: no worker that loads {ref} has been running "
            f"for {limit:g}s; start `aiki worker`, or give a --timeout to wait longer",
        )


class RunNotEnded(AikiError):
    """The run has not ended yet."""

    exit_code = 5  # what `wait --timeout 0` would exit with

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} has not ended: it is {status}; `aiki wait {run_id}` waits")


class RunFailed(AikiError):
    """The run failed."""

    def __init__(self, run_id: str, error_type: str, message: str) -> None:
        self.run_id = run_id
        self.error_type = error_type
        self.error_message = message
        super().__init__(f"run {run_id} failed: {error_type}: {message}")


class RunCancelled(AikiError):
    """The run was cancelled."""

    exit_code = 3

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id} was cancelled")


class RunDamaged(AikiError):
    """A run's files are damaged."""

    def __init__(
        self,
        run_id: str,
        detail: str,
        *,
        path: str | None = None,
        line: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.run_id = run_id
        self.detail = detail
        self.path = path  # the damaged file, and where in it (line number, byte offset)
        self.line = line
        self.offset = offset
        super().__init__(f"run {run_id} is damaged: {detail}; `aiki doctor` says how to repair it")


class NewerFormat(RunDamaged):
    """A run's files were written by a newer aiki, in a format this one does not read."""

    def __init__(
        self,
        run_id: str,
        detail: str,
        needed: str,
        *,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(run_id, detail, path=path, line=line)
        self.needed = needed  # the aiki that reads it: "aiki 0.3.0 or later", say
        AikiError.__init__(
            self,
            f"run {run_id} was written by a newer aiki: {detail}; upgrade to {needed} "
            "(nothing is wrong with the run, and this aiki leaves it alone)",
        )


_WRITE_HINTS = {
    errno.ENOSPC: "free some space and try again",
    errno.EDQUOT: "free some space and try again",
    errno.EROFS: "it is on a read-only file system",
    errno.EACCES: "check that you may write there",
    errno.EPERM: "check that you may write there",
}


class StoreUnwritable(AikiError):
    """The run store cannot be written."""

    def __init__(self, location: str, error: OSError) -> None:
        self.location = location
        self.errno = error.errno
        reason = error.strerror or str(error)
        hint = _WRITE_HINTS.get(error.errno or 0, "check the disk and try again")
        super().__init__(f"cannot write to {location}: {reason}; {hint}")


class StoreUnreachable(StoreUnwritable):
    """The database server cannot be reached."""

    def __init__(self, location: str, detail: str) -> None:
        AikiError.__init__(self, f"cannot reach PostgreSQL {detail}")
        self.location, self.errno = location, None


class SchemaNotReady(AikiError):
    """The database does not hold aiki's tables: run `aiki db migrate --store URL` first."""


class PostgresMissing(BadInput):
    """A postgresql:// store needs psycopg (not installed): `pip install 'aiki[postgres]'`"""


class RunClaimed(AikiError):
    """A worker holds the run: it cannot be moved or removed now."""

    def __init__(self, run_id: str, where: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id} in {where} is claimed by a worker that is executing it; "
            "try again once it has parked or ended, or stop the workers first"
        )


class Interrupted(AikiError):
    """Interrupted."""

    exit_code = 130

    def __init__(self, run_id: str, status: str, stopped: Sequence[str], *, keyed: bool) -> None:
        self.run_id = run_id
        self.status = status
        self.stopped = list(stopped)
        names = ", ".join(repr(task) for task in stopped)
        mid_way = f"; task {names} was stopped mid-way and runs again" if stopped else ""
        again = " (or this same command again, by its idempotency key)" if keyed else ""
        super().__init__(
            f"interrupted: run {run_id} is left {status}{mid_way}; `aiki worker`{again} resumes it"
        )


class TaskFailed(AikiError):
    """A task raised an error."""

    def __init__(self, task: str, error_type: str, message: str) -> None:
        self.task = task
        self.error_type = error_type
        self.error_message = message
        super().__init__(f"task {task!r} failed: {error_type}: {message}")


class TaskTimeout(AikiError, TimeoutError):
    """A task attempt ran past its timeout."""

    def __init__(self, task: str, timeout: float, fate: str) -> None:
        self.task = task
        self.timeout = timeout
        super().__init__(f"task {task!r} timed out after {timeout:g}s; its body {fate}")


class ChildFailed(AikiError):
    """A child run failed."""

    def __init__(self, child_id: str, error_type: str, message: str) -> None:
        self.child_id = child_id
        self.error_type = error_type
        self.error_message = message
        super().__init__(f"child run {child_id} failed: {error_type}: {message}")


class ChildCancelled(AikiError):
    """A child run was cancelled."""

    def __init__(self, child_id: str) -> None:
        self.child_id = child_id
        super().__init__(f"child run {child_id} was cancelled")


class DivergenceError(AikiError):
    """The workflow's code no longer matches the run's journal."""

    def __init__(self, task: str, unconsumed: Sequence[str]) -> None:
        self.task = task
        self.unconsumed = list(unconsumed)
        super().__init__(
            f"replay diverged: the code calls task {task!r}, which has no recorded result, "
            f"while recorded results of {', '.join(unconsumed)} were never consumed; "
            "deploy the code the run started with, or start a new run"
        )


class ReplayWouldBreak(AikiError):
    """Runs checked by `aiki replay --check` would not replay on the code as it is."""

    def __init__(self, broken: Sequence[tuple[str, str]], checked: int) -> None:
        self.broken = list(broken)  # (run id, verdict)
        shown = ", ".join(f"{run_id} {verdict}" for run_id, verdict in broken[:5])
        more = f" and {len(broken) - 5} more" if len(broken) > 5 else ""
        super().__init__(
            f"{len(broken)} of {checked} runs would not replay on this code ({shown}{more}); "
            "keep the code they started with, or add a new version for the change"
        )


class RecoveryLimitExceeded(AikiError):
    """The run's worker died too many times while executing it."""

    def __init__(self, run_id: str, deaths: int, limit: int, in_flight: Sequence[str]) -> None:
        self.run_id = run_id
        self.deaths = deaths
        suspect = f" while running {', '.join(in_flight)}" if in_flight else ""
        super().__init__(
            f"the worker executing run {run_id} died {deaths} times{suspect}, more than the "
            f"{limit} recoveries allowed; fix the cause, then start the run again"
        )


def one_line(text: str) -> str:
    """`text` as one line, for an error said in one line: every run of white space (line
    breaks included) becomes a single space."""
    return " ".join(text.split())


def describe(error: BaseException) -> dict[str, Any]:
    """The `type` and `message` fields that record an error in the journal."""
    if isinstance(error, TaskFailed):
        return {"type": "TaskFailed", "message": error.message, "task": error.task}
    if isinstance(error, AikiError):
        return {"type": type(error).__name__, "message": error.message}
    return {"type": type(error).__name__, "message": str(error) or type(error).__name__}
