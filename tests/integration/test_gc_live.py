"""`aiki gc` on a live store (issue 20 item 3): passes of gc run while two workers execute
runs and two client processes start more. Nothing is lost: every run started is either
still in the store or named in exactly one gc report, never both; gc removed only runs
that had ended (their archived journals say so); every task executed exactly once; and
the store's indexes agree with what is left (`aiki doctor`)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from aiki_cli.model.entry import parse_entry
from aiki_cli.model.journal import current_status
from aiki_cli.model.status import RunStatus

from .harness import PROCESS_TIMEOUT, WORKFLOWS, Process, Sandbox, wait_until

STARTERS = 2
RUNS_EACH = 40
TASKS = ("gate", "shared-two", "shared-three")
STARTER = """
import sys, time
from pathlib import Path
from aiki_cli import Client
from aiki_cli.authoring.loader import load_workflows

workflows, runs, ids, prefix, count = sys.argv[1:]
version = load_workflows(Path(workflows))["it-shared@1.0.0"]
client = Client(runs)
with open(ids, "a") as out:
    for n in range(int(count)):
        out.write(client.create(version, {"key": f"{prefix}-{n:03}"}).id + "\\n")
        out.flush()
        time.sleep(0.01)  # spread the starts over the gc passes
"""


def starter(sandbox: Sandbox, name: str) -> Process:
    """A client process starting `RUNS_EACH` runs, writing each id once it is stored."""
    args = [sys.executable, "-c", STARTER, str(WORKFLOWS), str(sandbox.runs)]
    args += [str(sandbox.root / f"{name}.ids"), name, str(RUNS_EACH)]
    return sandbox._processes.spawn(
        args, env=sandbox.env, cwd=sandbox.root, log=sandbox.root / f"{name}.log"
    )


def gc_pass(sandbox: Sandbox, number: int) -> dict[str, RunStatus]:
    """One `aiki gc` of every run that has ended (its clock two hours ahead, the age one
    hour), archived; the runs it reported, with their status as archived."""
    shift = sandbox.root / "shift"
    shift.write_text("7200")
    archive = sandbox.root / f"pass-{number}.tar.gz"
    done = subprocess.run(
        sandbox.command("gc", "--older-than", "1h", "--archive", str(archive), "--json"),
        env={**sandbox.env, "AIKI_CLOCK_SHIFT_FILE": str(shift)},
        cwd=sandbox.root,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    reported = [run["id"] for run in json.loads(done.stdout)["removed"]]
    return {run_id: archived_status(archive, run_id) for run_id in reported}


def archived_status(archive: Path, run_id: str) -> RunStatus:
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"{run_id}/journal.jsonl")
        assert member is not None
        lines = member.read().splitlines()
    return current_status(parse_entry(line) for line in lines)


def started_ids(sandbox: Sandbox) -> list[str]:
    ids: list[str] = []
    for n in range(STARTERS):
        path = sandbox.root / f"starter-{n}.ids"
        ids += path.read_text().split() if path.exists() else []
    return ids


@pytest.mark.slow
def test_gc_during_work_and_starts_loses_nothing_and_removes_only_what_it_reported(
    sandbox: Sandbox,
) -> None:
    sandbox.go()  # the gate task lets every run through
    workers = [sandbox.worker("--concurrency", "4") for _ in range(2)]
    starters = [starter(sandbox, f"starter-{n}") for n in range(STARTERS)]
    reports: list[dict[str, RunStatus]] = []
    while any(process.process.poll() is None for process in starters):
        reports.append(gc_pass(sandbox, len(reports)))
    assert all(process.wait() == 0 for process in starters), [p.output() for p in starters]
    started = started_ids(sandbox)
    assert len(started) == STARTERS * RUNS_EACH

    def every_run_ended_or_removed() -> bool:
        removed = {run_id for report in reports for run_id in report}
        statuses = {ref["id"]: ref["status"] for ref in listed(sandbox)}
        return all(i in removed or statuses.get(i) == "completed" for i in started)

    wait_until(every_run_ended_or_removed, "every run to complete", alive=workers)
    reports.append(gc_pass(sandbox, len(reports)))
    for worker in workers:
        worker.process.terminate()
        assert worker.wait() == 0, worker.output()

    removed = [run_id for report in reports for run_id in report]
    assert len(removed) == len(set(removed)), "a run was reported removed twice"
    assert sorted(removed) == sorted(started), "every run ended, so the last pass took the rest"
    assert {status for report in reports for status in report.values()} == {RunStatus.COMPLETED}
    assert listed(sandbox) == []
    assert sum(1 for report in reports[:-1] if report) > 0, "no pass overlapped the work"
    counts = sandbox.counts()
    keys = [f"starter-{n}-{i:03}" for n in range(STARTERS) for i in range(RUNS_EACH)]
    assert sorted(counts) == sorted((key, task) for key in keys for task in TASKS)
    assert set(counts.values()) == {1}, "a task executed twice"
    assert list((sandbox.runs / "ready").iterdir()) == []
    assert list((sandbox.runs / "run").iterdir()) == []
    doctor = sandbox.aiki("doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout


def listed(sandbox: Sandbox) -> list[dict[str, str]]:
    done = sandbox.aiki("list", "--json", "--limit", "1000")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]
