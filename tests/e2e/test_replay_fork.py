"""`aiki replay --check` and `aiki fork` through the real executable, on the file store.

The workflows are written per test into two folders, the code as deployed and the code
about to be deployed; each task body appends its name to a file, so the tests count
executions across processes. Stores are compared byte for byte (and by modification
time) to prove what a command did not write.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .support import Invoke, assert_one_error

CODE = """
import os
from aiki_cli import task, workflow


def mark(name):
    with open(os.environ["AIKI_E2E_COUNTS"], "a") as counts:
        counts.write(name + "\\n")


@task(name="charge")
def charge(amount):
    mark("charge")
    return {{"charged": amount}}


@task(name="notify")
def notify(what):
    mark("notify")
    return "sent " + what


@task(name="fraud-check")
def fraud_check(amount):
    mark("fraud-check")
    return True


@task(name="ship")
def ship(where):
    mark("ship")
    return "shipped to " + str(where)


pay = workflow(name="pay")


@pay.v("1.0.0")
async def pay_v1(input, run):
    charged = await charge.start(run, input["amount"])
{insert}    await notify.start(run, "big")
    go = await run.wait_for_event("go")
    shipped = await ship.start(run, go.data)
    return {{**charged, "shipped": shipped}}
"""


class Site:
    """A store, the deployed code and the next code, and the execution counts."""

    def __init__(self, root: Path, aiki: Invoke) -> None:
        self.root, self._aiki = root, aiki
        self.counts = root / "counts"
        self.runs = root / "runs"
        self.deployed = self.code("deployed", "")
        self.inserted = self.code("inserted", "    await fraud_check.start(run, 1)\n")

    def code(self, name: str, insert: str) -> Path:
        folder = self.root / name
        folder.mkdir()
        (folder / f"pay_{name}.py").write_text(CODE.format(insert=insert))
        return folder

    def __call__(self, *args: str, code: Path | None = None) -> Any:
        folder = code or self.deployed
        return self._aiki(
            "--runs-dir",
            str(self.runs),
            "--workflows-dir",
            str(folder),
            *args,
            env={"AIKI_E2E_COUNTS": str(self.counts)},
        )

    def executed(self) -> list[str]:
        return self.counts.read_text().split() if self.counts.exists() else []

    def awaiting(self) -> str:
        """A run of pay@1.0.0 parked on its event, after charge and notify."""
        run_id: str = self("start", "pay@1.0.0", "--input-json", '{"amount": 150}').run_id()
        assert self("worker", "--until-idle").code == 0
        assert self("status", run_id, "--json").json()["status"] == "awaiting_event"
        return run_id

    def completed(self) -> str:
        run_id = self.awaiting()
        assert self("send", run_id, "go", "--data-json", '"home"').code == 0
        assert self("worker", "--until-idle").code == 0
        assert self("status", run_id, "--json").json()["status"] == "completed"
        return run_id


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and folder under `folder`: its bytes (files) and modification time."""
    return {
        str(path.relative_to(folder)): (
            path.read_bytes() if path.is_file() else b"",
            path.stat().st_mtime_ns,
        )
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture
def site(tmp_path: Path, aiki: Invoke) -> Site:
    return Site(tmp_path, aiki)


def test_replay_check_reports_each_run_and_writes_nothing(site: Site) -> None:
    run_id = site.awaiting()
    before, executed = snapshot(site.runs), site.executed()

    same = site("replay", "--check")
    as_json = site("replay", "--check", "--json")
    changed = site("replay", "--check", "--json", code=site.inserted)

    assert same.code == 0, same
    assert run_id in same.stdout and "replays" in same.stdout
    assert "parks awaiting_event: event 'go'" in same.stdout
    assert as_json.code == 0
    assert as_json.json() == [
        {
            "id": run_id,
            "workflow": "pay",
            "version": "1.0.0",
            "status": "awaiting_event",
            "verdict": "replays",
            "stopped": "parks awaiting_event: event 'go'",
            "replayed": 2,
            "unconsumed": [],
        }
    ]
    assert changed.code == 1
    (report,) = changed.json()
    assert report["verdict"] == "diverges"
    assert report["error"]["type"] == "DivergenceError"
    assert "the code calls task 'fraud-check'" in report["error"]["message"]
    assert changed.stderr.startswith("error: 1 of 1 runs would not replay on this code")
    assert snapshot(site.runs) == before, "the check wrote to the store"
    assert site.executed() == executed == ["charge", "notify"], "the check executed a task"


def test_replay_check_gives_the_engines_own_divergence_message(site: Site) -> None:
    run_id = site.awaiting()
    checked = site("replay", "--check", run_id, "--json", code=site.inserted).json()[0]

    assert site("send", run_id, "go", "--data-json", '"home"').code == 0
    assert site("worker", "--until-idle", code=site.inserted).code == 0
    engine = site("status", run_id, "--json").json()

    assert engine["status"] == "failed"
    assert checked["error"] == {"type": "DivergenceError", "message": engine["error"]["message"]}
    assert "fraud-check" not in site.executed()


def test_replay_check_reads_exported_runs(site: Site, tmp_path: Path) -> None:
    run_id = site.awaiting()
    exported = tmp_path / "exported.json"
    assert site("export", run_id, "-o", str(exported)).code == 0
    elsewhere = tmp_path / "no-store"

    ok = site._aiki(
        "--runs-dir", str(elsewhere), "--workflows-dir", str(site.deployed),
        "replay", "--check", "--journal", str(exported), "--json",
    )  # fmt: skip
    broken = site("replay", "--check", "--journal", str(exported), code=site.inserted)
    not_json = site("replay", "--check", "--journal", str(site.deployed / "pay_deployed.py"))

    assert ok.code == 0, ok
    assert [(r["id"], r["verdict"], r["journal"]) for r in ok.json()] == [
        (run_id, "replays", str(exported))
    ]
    assert not elsewhere.exists(), "reading an exported run creates no store"
    assert broken.code == 1 and "diverges" in broken.stdout
    assert_one_error(not_json, 2, "pay_deployed.py")


def test_replay_without_check_and_unknown_statuses_are_usage_errors(site: Site) -> None:
    assert_one_error(site("replay"), 2, "add --check")
    assert_one_error(site("replay", "--check", "--status", "sleepy"), 2, "unknown status")


def test_fork_starts_a_run_that_reuses_calls_and_the_source_stays_as_it_was(
    site: Site,
) -> None:
    source = site.completed()
    source_files = snapshot(site.runs / "run" / source)
    executed = site.executed()

    dry = site("fork", source, "--from", "ship", "--dry-run")
    assert dry.code == 0, dry
    assert [line.split()[-1] for line in dry.stdout.splitlines()[1:]] == [
        "reused",
        "reused",
        "executes",
    ]
    assert "task 'ship' would execute" in dry.stderr
    forked = site("fork", source, "--from", "ship").run_id()
    assert site("worker", "--until-idle").code == 0

    status = site("status", forked, "--json").json()
    listed = {row["id"]: row for row in site("list", "--json").json()}
    history = site("history", forked)
    assert status["status"] == "completed"
    assert status["result"] == {"charged": 150, "shipped": "shipped to home"}
    origin = {"run_id": source, "task": "ship", "call": 1}
    assert status["forked_from"] == listed[forked]["forked_from"] == origin
    assert "forked_from" not in listed[source]
    assert f"forked from run {source} at ship#1" in history.stdout
    assert re.search(rf"forked from +run {source} at ship#1", site("status", forked).stdout)
    assert site.executed() == [*executed, "ship"], "only ship ran again"
    assert snapshot(site.runs / "run" / source) == source_files, "the source run changed"


def test_fork_with_a_new_input_executes_the_calls_whose_input_changed(site: Site) -> None:
    source = site.completed()

    plan = site(
        "fork", source, "--from", "ship", "--input-json", '{"amount": 99}', "--dry-run", "--json"
    )

    assert plan.code == 0, plan
    document = plan.json()
    assert document["run_id"] is None and document["input"] == {"amount": 99}
    assert [(c["task"], c["reused"]) for c in document["calls"]] == [
        ("charge", False),
        ("notify", False),
        ("ship", False),
    ]
    assert document["then"] == "task 'charge' would execute"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--from", "bogus"], 2, "never called task 'bogus'; its tasks: charge, notify"),
        (["--from", "notify#2"], 2, "--from notify#2 is beyond them"),
        (["--from", "notify#0"], 2, "is not TASK or TASK#N"),
        (["--from", "notify", "--version", "9.9.9"], 4, "unknown workflow 'pay@9.9.9'"),
    ],
)
def test_fork_refuses_in_one_line_and_writes_nothing(
    site: Site, args: list[str], code: int, fragment: str
) -> None:
    source = site.completed()
    before = snapshot(site.runs)

    assert_one_error(site("fork", source, *args), code, fragment)
    assert snapshot(site.runs) == before


def test_fork_refuses_a_run_still_going_and_an_unknown_run(site: Site) -> None:
    waiting = site.awaiting()
    before = snapshot(site.runs)

    assert_one_error(site("fork", waiting, "--from", "notify"), 2, "is awaiting_event", "pause")
    assert_one_error(site("fork", "01m8xcramvjr1fxf82pebkh8yz", "--from", "ship"), 4, "no run")
    assert snapshot(site.runs) == before
