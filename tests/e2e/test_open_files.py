"""A worker holds two files open for each run it executes: it raises its soft limit on
open files to what its `--concurrency` needs, or says at once that the hard limit is too
low. (Past the limit, claims would fail with "too many open files".)"""

from __future__ import annotations

import resource

from .support import Invoke, Outcome, assert_one_error, start

RUNS = 120


def worker_with_file_limit(aiki: Invoke, soft: int, hard: int) -> Outcome:
    """`aiki worker --until-idle --concurrency 100` in a process that may open `soft`
    files (`hard` at most)."""
    return aiki(
        "worker",
        "--until-idle",
        "--poll-interval",
        "0.05",
        "--concurrency",
        "100",
        before_exec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )


def test_a_worker_raises_its_soft_limit_to_hold_its_concurrency(aiki: Invoke, cli: Invoke) -> None:
    ids = [start(cli, "e2e-echo@1.0.0", "--input-json", f'{{"n": {n}}}') for n in range(RUNS)]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    outcome = worker_with_file_limit(aiki, 128, hard)

    assert outcome.code == 0, outcome
    assert "ERROR" not in outcome.stderr, outcome.stderr
    statuses = {cli("status", run_id, "--json").json()["status"] for run_id in ids}
    assert statuses == {"completed"}


def test_a_hard_limit_too_low_for_the_concurrency_is_one_error(aiki: Invoke, cli: Invoke) -> None:
    run_id = start(cli, "e2e-echo@1.0.0", "--input-json", '{"n": 1}')

    outcome = worker_with_file_limit(aiki, 128, 128)

    assert_one_error(outcome, 2, "concurrency 100", "open files", "limit of 128", "ulimit -n")
    assert cli("status", run_id, "--json").json()["status"] == "pending"
