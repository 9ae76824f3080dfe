"""A worker holds two files open for each run it executes: it raises its soft limit on
open files to what its `--concurrency` needs, or says at once that the hard limit is too
low. (Past the limit, claims would fail with "too many open files".)"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

from .support import AIKI, SUBPROCESS_TIMEOUT, Invoke, Outcome, assert_one_error, start

RUNS = 120


def worker_with_file_limit(cwd: Path, soft: int, hard: int, *args: str) -> Outcome:
    """`aiki worker --until-idle ARGS` in a process that may open `soft` files (`hard` at most)."""
    done = subprocess.run(
        [*AIKI, "worker", "--until-idle", "--poll-interval", "0.05", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def test_a_worker_raises_its_soft_limit_to_hold_its_concurrency(
    cli: Invoke, tmp_path: Path
) -> None:
    ids = [start(cli, "e2e-echo@1.0.0", "--input-json", f'{{"n": {n}}}') for n in range(RUNS)]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    outcome = worker_with_file_limit(tmp_path, 128, hard, "--concurrency", "100")

    assert outcome.code == 0, outcome
    assert "ERROR" not in outcome.stderr, outcome.stderr
    statuses = {cli("status", run_id, "--json").json()["status"] for run_id in ids}
    assert statuses == {"completed"}


def test_a_hard_limit_too_low_for_the_concurrency_is_one_error(cli: Invoke, tmp_path: Path) -> None:
    run_id = start(cli, "e2e-echo@1.0.0", "--input-json", '{"n": 1}')

    outcome = worker_with_file_limit(tmp_path, 128, 128, "--concurrency", "100")

    assert_one_error(outcome, 2, "concurrency 100", "open files", "limit of 128", "ulimit -n")
    assert cli("status", run_id, "--json").json()["status"] == "pending"
