"""Which commands exit by the run's outcome (issue 15.9), through the real executable.

`wait`, `start --wait` and `status --exit-code` exit 0 completed, 1 failed, 3 cancelled and
5 not ended (yet, or within the timeout). Every other reading command exits 0 when it
shows what was asked for, however the run ended: `status` without `--exit-code`,
`history`, `list`.
"""

from __future__ import annotations

import pytest

from .support import Invoke, finished, start

OUTCOME_CODES = {"completed": 0, "failed": 1, "cancelled": 3, "pending": 5}
SAID = {
    "completed": None,
    "failed": "failed: TaskFailed: task 'explode' failed: ValueError: kaboom 7",
    "cancelled": "was cancelled",
    "pending": "has not ended: it is pending",
}


def run_in(cli: Invoke, status: str) -> str:
    """A run that ended (or not) as `status` says, set up in-process."""
    if status == "completed":
        return finished(cli, "e2e-echo@1.0.0")
    if status == "failed":
        return finished(cli, "e2e-boom@1.0.0")
    pending = start(cli, "e2e-echo@1.0.0")
    if status == "cancelled":
        assert cli("cancel", pending).code == 0
    return pending


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("status", list(OUTCOME_CODES))
def test_status_exit_code_exits_by_the_runs_outcome(aiki: Invoke, cli: Invoke, status: str) -> None:
    run_id = run_in(cli, status)

    shown = aiki("status", run_id, "--exit-code")
    document = aiki("status", run_id, "--exit-code", "--json")

    said = SAID[status]
    for outcome in (shown, document):
        assert outcome.code == OUTCOME_CODES[status], outcome
        errors = error_lines(outcome.stderr)
        assert len(errors) == (said is not None), outcome.stderr
        assert said is None or errors[0].startswith(f"error: run {run_id} {said}"), errors
    assert f"run {run_id}" in shown.stdout and status in shown.stdout  # the panel, as ever
    assert document.json()["status"] == status


@pytest.mark.parametrize("status", list(OUTCOME_CODES))
def test_wait_exits_by_the_runs_outcome_and_plain_status_exits_0(
    aiki: Invoke, cli: Invoke, status: str
) -> None:
    run_id = run_in(cli, status)

    waited = aiki("wait", run_id, "--timeout", "0")
    reads = [
        aiki("status", run_id),
        aiki("status", run_id, "--json"),
        aiki("history", run_id),
        aiki("list", "--json"),
    ]

    assert waited.code == OUTCOME_CODES[status], waited
    for outcome in reads:
        assert outcome.code == 0 and error_lines(outcome.stderr) == [], outcome
