"""The one transition table every status change passes through (SPEC §3)."""

from __future__ import annotations

import itertools

import pytest

from aiki_cli.errors import IllegalTransition
from aiki_cli.model.status import (
    PARKED,
    TERMINAL,
    TRANSITIONS,
    RunStatus,
    can_transition,
    check_transition,
)

S = RunStatus
WAITING = [S.SLEEPING, S.AWAITING_EVENT, S.AWAITING_CHILD, S.AWAITING_RETRY]

# Written out by hand on purpose: a change to the table must change this test too.
EXPECTED: set[tuple[RunStatus, RunStatus]] = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.PAUSED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.SLEEPING),
    (S.RUNNING, S.AWAITING_EVENT),
    (S.RUNNING, S.AWAITING_CHILD),
    (S.RUNNING, S.AWAITING_RETRY),
    (S.RUNNING, S.PAUSED),
    (S.RUNNING, S.PENDING),  # its worker stopped: back to the queue
    (S.RUNNING, S.RUNNING),  # a new worker takes over from one that died
    *((waiting, target) for waiting in WAITING for target in (S.RUNNING, S.CANCELLED, S.PAUSED)),
    (S.PAUSED, S.PENDING),
    (S.PAUSED, S.CANCELLED),
    (S.FAILED, S.PENDING),  # retry in place
    (S.CANCELLED, S.PENDING),  # retry in place
}

ALL_PAIRS = list(itertools.product(RunStatus, RunStatus))


def test_every_status_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(RunStatus)


def test_terminal_and_parked_sets() -> None:
    assert {s for s in RunStatus if s.terminal} == {S.COMPLETED, S.FAILED, S.CANCELLED} == TERMINAL
    assert {s for s in RunStatus if s.parked} == {*WAITING, S.PAUSED} == PARKED
    assert not TERMINAL & PARKED


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: str(s))
def test_the_table_allows_exactly_the_expected_moves(current: RunStatus, target: RunStatus) -> None:
    assert can_transition(current, target) == ((current, target) in EXPECTED)


def test_completed_has_no_way_out() -> None:
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert not any(can_transition(S.COMPLETED, target) for target in RunStatus)


@pytest.mark.parametrize("status", [S.FAILED, S.CANCELLED])
def test_failed_and_cancelled_only_go_back_to_pending(status: RunStatus) -> None:
    assert TRANSITIONS[status] == frozenset({S.PENDING})


@pytest.mark.parametrize("status", sorted(PARKED))
def test_parked_runs_never_complete_without_running(status: RunStatus) -> None:
    assert not can_transition(status, S.COMPLETED)
    assert not can_transition(status, S.FAILED)


def test_only_running_reaches_completed_and_failed() -> None:
    for end in (S.COMPLETED, S.FAILED):
        assert {s for s in RunStatus if can_transition(s, end)} == {S.RUNNING}


@pytest.mark.parametrize(
    ("current", "target"), [pair for pair in ALL_PAIRS if pair not in EXPECTED], ids=str
)
def test_check_transition_refuses_illegal_moves(current: RunStatus, target: RunStatus) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition("r1", current, target)
    error = caught.value
    assert (error.run_id, error.current, error.action) == ("r1", current, f"become {target}")
    assert error.exit_code == 2
    assert f"is {current} and cannot become {target}" in error.message


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED), ids=str)
def test_check_transition_allows_legal_moves(current: RunStatus, target: RunStatus) -> None:
    assert check_transition("r1", current, target) is None
