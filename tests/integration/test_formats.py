"""A store written by a newer aiki (issue 16.4): a `run.json` with a newer `format`, or a
journal entry of a type this aiki does not know, is refused in one line naming the aiki
to upgrade to (exit 1); workers leave such runs alone without failing them, and doctor
never advises cutting what it does not understand.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.cli.app import app
from aiki_cli.errors import NewerFormat
from aiki_cli.model.status import RunStatus
from aiki_cli.store.files import FileStore
from aiki_cli.store.files.doctor import examine

CALLS: list[str] = []


@task(name="fmt-step")
def step(input: Any) -> str:
    CALLS.append("step")
    return "done"


fmt = workflow(name="fmt")


@fmt.v("1.0.0")
async def two_steps(input: Any, run: Run) -> str:
    await step.start(run, 1)
    return await step.start(run, 2)


def execute(client: Client) -> None:
    asyncio.run(Worker(client, [fmt], poll_interval=0.01).run(until_idle=True))


def files(run_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}


def cli(runs: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--runs-dir", str(runs), *args])
    return result.exit_code, result.stderr


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def pending_run(runs: Path) -> tuple[Client, str, Path]:
    client = Client(runs)
    run_id = client.create(fmt.versions["1.0.0"], None).id
    return client, run_id, runs / "run" / run_id


def rewrite_spec(run_dir: Path, **changes: Any) -> None:
    spec = json.loads((run_dir / "run.json").read_text())
    spec.update(changes)
    spec = {key: value for key, value in spec.items() if value is not None}
    (run_dir / "run.json").write_text(json.dumps(spec))


@pytest.mark.parametrize(
    ("changes", "needed"),
    [
        ({"format": 2, "aiki": "0.3.0"}, "upgrade to aiki 0.3.0 or later"),
        ({"format": 7, "workflow": None}, "upgrade to an aiki that reads run.json format 7"),
    ],
    ids=["names-its-writer", "fields-changed"],
)
def test_a_run_json_of_a_newer_format_is_refused_and_left_alone(
    runs: Path, changes: dict[str, Any], needed: str
) -> None:
    CALLS.clear()
    client, run_id, run_dir = pending_run(runs)
    rewrite_spec(run_dir, **changes)
    before = files(run_dir)

    with pytest.raises(NewerFormat, match=needed):
        asyncio.run(client.get(run_id))
    code, stderr = cli(runs, "status", run_id)
    assert code == 1 and len(stderr.splitlines()) == 1, stderr
    assert "was written by a newer aiki" in stderr and needed in stderr
    execute(client)  # the worker of this older aiki skips it: nothing executed or failed
    assert CALLS == [] and files(run_dir) == before

    report = examine(FileStore(runs), repair=True)
    assert [finding.kind for finding in report.findings] == ["newer-format"]
    assert needed.removeprefix("upgrade to ") in report.findings[0].fix
    assert files(run_dir) == before


def test_a_journal_entry_of_an_unknown_type_is_never_cut(runs: Path) -> None:
    CALLS.clear()
    client, run_id, run_dir = pending_run(runs)
    execute(client)
    assert asyncio.run(client.get(run_id)).status == RunStatus.COMPLETED
    journal = run_dir / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    newer = json.dumps({"type": "checkpoint", "at": "2026-12-02T00:00:00Z", "aiki": "0.4.1"})
    journal.write_bytes(b"".join([*lines[:3], newer.encode() + b"\n", *lines[3:]]))
    before = files(run_dir)

    code, stderr = cli(runs, "status", run_id)
    assert code == 1 and len(stderr.splitlines()) == 1, stderr
    assert "line 4 is a 'checkpoint' entry" in stderr and "aiki 0.4.1 or later" in stderr
    execute(client)
    report = examine(FileStore(runs), repair=True)
    assert [finding.kind for finding in report.findings] == ["newer-format"]
    assert "truncate" not in report.findings[0].fix and not report.findings[0].repairable
    assert files(run_dir) == before
    assert CALLS == ["step", "step"]  # only the first execution's


def test_a_damaged_line_of_a_known_type_is_still_damage_with_its_cut(runs: Path) -> None:
    client, _, run_dir = pending_run(runs)
    execute(client)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:2], b'{"type": "task_started", "at": 5}\n', *lines[2:]]))
    report = examine(FileStore(runs))
    assert [finding.kind for finding in report.findings] == ["journal-damaged"]
    assert "truncate -s" in report.findings[0].fix
