"""Run statuses and the one transition table that every status change passes through."""

from __future__ import annotations

from enum import StrEnum

from ..errors import IllegalTransition


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SLEEPING = "sleeping"
    AWAITING_EVENT = "awaiting_event"
    AWAITING_CHILD = "awaiting_child"
    AWAITING_RETRY = "awaiting_retry"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def parked(self) -> bool:
        return self in PARKED

    @property
    def idle(self) -> bool:
        """Ended or paused: nothing for a worker to do until someone acts on the run."""
        return self.terminal or self == RunStatus.PAUSED

    def wants_worker(self, *, timed: bool, news: bool) -> bool:
        """Whether a run in this status belongs in the ready queue: running, pending
        without a delayed start (`timed`), or parked with requests or mail (`news`)."""
        return (
            self == RunStatus.RUNNING
            or (self == RunStatus.PENDING and not timed)
            or (self.parked and not self.idle and news)
        )


TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
PARKED = frozenset(
    {
        RunStatus.SLEEPING,
        RunStatus.AWAITING_EVENT,
        RunStatus.AWAITING_CHILD,
        RunStatus.AWAITING_RETRY,
        RunStatus.PAUSED,
    }
)
_WAITING = PARKED - {RunStatus.PAUSED}

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # Queued; a worker starts it, or it is cancelled or paused before it starts.
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.PAUSED}),
    # Executing; it ends, parks, or goes back to the queue when its worker stops;
    # running -> running is a new worker taking over from one that died.
    RunStatus.RUNNING: TERMINAL | PARKED | {RunStatus.PENDING, RunStatus.RUNNING},
    # Paused runs resume through the queue, which replays them to where they were.
    RunStatus.PAUSED: frozenset({RunStatus.PENDING, RunStatus.CANCELLED}),
    # Failed and cancelled runs can be retried in place.
    RunStatus.FAILED: frozenset({RunStatus.PENDING}),
    RunStatus.CANCELLED: frozenset({RunStatus.PENDING}),
    RunStatus.COMPLETED: frozenset(),
    **{
        waiting: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.PAUSED})
        for waiting in _WAITING
    },
}


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(run_id: str, current: RunStatus, target: RunStatus) -> None:
    """Refuse a status change the table does not allow."""
    if not can_transition(current, target):
        raise IllegalTransition(run_id, current, f"become {target}")
