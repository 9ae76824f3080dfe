"""The engine's own control flow: `Signal`s derive from `BaseException`, so that a
workflow's `except Exception` cannot swallow them; so does `StorageFailed`, a store failing
under a run's code, which stops the run without failing it."""

from __future__ import annotations

from .errors import AikiError, StoreUnwritable


class Signal(BaseException):
    """Engine control flow that workflow code must not catch."""


class CancelSignal(Signal):
    """The run was cancelled at a task boundary."""


class ReleaseSignal(Signal):
    """The worker is stopping; the run goes back to the queue."""


class PauseSignal(Signal):
    """The run was paused at a task boundary."""


class SuspendSignal(Signal):
    """Every branch of the run waits for time, an event or a child: the run parks."""


class StorageFailed(Signal):
    """The store cannot record the run's progress: the run stops, to resume later."""

    def __init__(self, error: StoreUnwritable) -> None:
        super().__init__(error)
        self.error = error


class FailSignal(Signal):
    """The run fails for a reason no retry or `except` may change."""

    def __init__(self, error: AikiError) -> None:
        super().__init__(error)
        self.error = error
