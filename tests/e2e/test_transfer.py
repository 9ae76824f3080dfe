"""`aiki export`, `import`, `gc`, `restore` and `copy` through the real executable: stdout
exact, one-line errors with their exit codes, and `status --json` the same before and
after a run moved (issue 20 item 3, issue 18's copy)."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from aiki_cli.store.files import FileStore

from .support import RUN_ID, Invoke

PARKED = Path(__file__).parent / "parked_workflows"
# The kinds of store `aiki copy` is tested between: how to name a second, empty one.
# A store joins with one line (its location for a test's tmp_path).
LOCATIONS: dict[str, Callable[[pytest.FixtureRequest, Path], str]] = {
    "directory": lambda request, tmp: str(tmp / "elsewhere"),
    "postgresql": lambda request, tmp: str(request.getfixturevalue("postgres_url")),
}


# An export whose letter's key would name a file outside the run's inbox.
EVIL = json.dumps(
    {
        "format": 1,
        "spec": {
            "id": "01m8xcscdsj4jj36rpgmjmbkqf",
            "workflow": "e2e-echo",
            "version": "1.0.0",
            "created_at": "2026-01-01T00:00:00Z",
        },
        "mail": [{"key": "../../x", "kind": "event", "sent_at": "2026-01-01T00:00:00Z"}],
    }
)


def started(aiki: Invoke, *args: str) -> str:
    outcome = aiki("start", *args)
    assert outcome.code in (0, 1), outcome
    return outcome.stdout.split()[0]


def status(aiki: Invoke, run_id: str, *where: str) -> dict[str, object]:
    outcome = aiki("status", run_id, "--json", *where)
    assert outcome.code in (0, 1, 3) or "awaiting" in outcome.stdout, outcome
    return json.loads(outcome.stdout)  # type: ignore[no-any-return]


def later(tmp_path: Path, seconds: int = 7200) -> dict[str, str]:
    """The environment of a process whose clock runs `seconds` ahead."""
    shift = tmp_path / "shift"
    shift.write_text(str(seconds))
    return {"AIKI_CLOCK_SHIFT_FILE": str(shift)}


def parked_runs(aiki: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Three runs of the parked workflows, executed: completed, failed, awaiting an event."""
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(PARKED))
    done = started(aiki, "e2e-event@1.0.0", "--input-json", "{}")
    assert aiki("send", done, "go", "--data-json", "1").code == 0
    failing = json.dumps({"log": str(tmp_path / "log"), "fixed": str(tmp_path / "nope")})
    failed = started(aiki, "e2e-fixable@1.0.0", "--input-json", failing)
    waiting = started(aiki, "e2e-event@1.0.0", "--input-json", "{}")
    assert aiki("worker", "--until-idle").code == 0
    assert [status(aiki, i)["status"] for i in (done, failed, waiting)] == [
        "completed",
        "failed",
        "awaiting_event",
    ]
    return [done, failed, waiting]


def test_an_exported_run_imported_elsewhere_has_the_same_status(
    aiki: Invoke, tmp_path: Path
) -> None:
    run_id = started(aiki, "e2e-echo@1.0.0", "--input-json", '{"n": 4}', "--wait")
    exported = aiki("export", run_id)
    assert exported.code == 0 and json.loads(exported.stdout)["spec"]["id"] == run_id
    assert aiki("export", run_id, "-o", "run.json").stdout == ""
    assert Path("run.json").read_text() == exported.stdout
    imported = aiki("import", "run.json", "--runs-dir", "other")
    assert (imported.code, imported.stdout) == (0, run_id + "\n")
    assert status(aiki, run_id, "--runs-dir", "other") == status(aiki, run_id)
    journal = Path("run", run_id, "journal.jsonl")
    assert (tmp_path / "other" / journal).read_bytes() == (tmp_path / "runs" / journal).read_bytes()


def test_an_import_of_an_id_the_store_has_is_refused_unless_new_id(aiki: Invoke) -> None:
    run_id = started(aiki, "e2e-echo@1.0.0", "--wait")
    exported = aiki("export", run_id).stdout
    refused = aiki("import", "-", stdin=exported)
    assert (refused.code, refused.stdout) == (2, "")
    assert f"run {run_id} already exists" in refused.stderr and "--new-id" in refused.stderr
    assert len(aiki("list", "--json").json()) == 1  # nothing written
    copy = aiki("import", "-", "--new-id", stdin=exported)
    assert copy.code == 0 and RUN_ID.fullmatch(copy.stdout.strip())
    new_id = copy.stdout.strip()
    assert new_id != run_id
    assert status(aiki, new_id)["result"] == status(aiki, run_id)["result"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("not json", "is not valid JSON"),
        ("[]", "is invalid: Input should be a valid dictionary"),
        ('{"format": 1}', "spec: Field required"),
        (EVIL, "'../../x' is not a mail key"),
    ],
    ids=["not-json", "array", "no-spec", "mail-key-a-path"],
)
def test_an_import_of_no_exported_run_is_bad_input(aiki: Invoke, text: str, said: str) -> None:
    outcome = aiki("import", "-", stdin=text)
    assert (outcome.code, outcome.stdout) == (2, "")
    assert said in outcome.stderr and outcome.stderr.count("\n") == 1
    assert not Path("runs", "run").exists()


def test_export_of_a_missing_run_is_not_found(aiki: Invoke) -> None:
    outcome = aiki("export", "01m8xcscdsj4jj36rpgmjmbkqf")
    assert (outcome.code, outcome.stdout) == (4, "")


def test_gc_archives_and_removes_old_ended_runs_and_restore_brings_them_back(
    aiki: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done, failed, waiting = parked_runs(aiki, monkeypatch, tmp_path)
    before = {run_id: status(aiki, run_id) for run_id in (done, failed, waiting)}
    gc = aiki("gc", "--older-than", "1h", "--archive", "old.tar.gz", env=later(tmp_path))
    assert gc.code == 0, gc
    lines = gc.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines[:-1]) == sorted([done, failed])
    assert lines[-1].startswith("removed 2 run(s), ") and "archived to old.tar.gz" in lines[-1]
    assert aiki("status", done).code == 4
    assert [run["id"] for run in aiki("list", "--json").json()] == [waiting]
    with tarfile.open("old.tar.gz") as tar:
        assert f"{done}/journal.jsonl" in tar.getnames()
    restored = aiki("restore", "old.tar.gz")
    assert (restored.code, sorted(restored.stdout.split())) == (0, sorted([done, failed]))
    assert {run_id: status(aiki, run_id) for run_id in before} == before
    again = aiki("restore", "old.tar.gz")
    assert (again.code, again.stdout) == (2, "") and "already exists" in again.stderr


def test_gc_dry_run_json_says_what_would_go_and_removes_nothing(
    aiki: Invoke, tmp_path: Path
) -> None:
    run_id = started(aiki, "e2e-echo@1.0.0", "--wait")
    assert aiki("gc", "--older-than", "1h", "--json").json()["count"] == 0  # not old yet
    outcome = aiki("gc", "--older-than", "1h", "--dry-run", "--json", env=later(tmp_path))
    report = outcome.json()
    assert report["dry_run"] is True and report["count"] == 1 and report["bytes"] > 0
    assert report["removed"][0]["id"] == run_id
    assert report["removed"][0]["status"] == "completed"
    assert aiki("status", run_id).code == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--older-than", "soon"], "is not like"),
        (["--older-than", "1d", "--status", "running"], "only ended runs"),
        (["--older-than", "1d", "--status", "done"], "unknown status"),
        (["--older-than", "1d", "--archive", "there.tar.gz"], "exists"),
    ],
)
def test_gc_refuses_bad_usage(aiki: Invoke, args: list[str], said: str) -> None:
    Path("there.tar.gz").write_bytes(b"")
    outcome = aiki("gc", *args)
    assert (outcome.code, outcome.stdout) == (2, "")
    assert said in outcome.stderr


def test_restore_refuses_a_file_that_is_no_archive(aiki: Invoke) -> None:
    Path("x.tar.gz").write_text("plain text")
    outcome = aiki("restore", "x.tar.gz")
    assert (outcome.code, outcome.stdout) == (2, "")
    assert "not a readable tar.gz" in outcome.stderr


@pytest.mark.parametrize("kind", sorted(LOCATIONS))
def test_copy_moves_runs_in_flight_and_ended_with_the_same_status(
    aiki: Invoke,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    kind: str,
) -> None:
    target = LOCATIONS[kind](request, tmp_path)
    done, failed, waiting = parked_runs(aiki, monkeypatch, tmp_path)
    pending = started(aiki, "e2e-event@1.0.0", "--input-json", "{}")
    aiki("send", waiting, "go", "--data-json", '"early"')  # mail not yet read
    copied = aiki("copy", "--from", "runs", "--to", target)
    assert copied.code == 0, copied
    assert sorted(copied.stdout.split()) == sorted([done, failed, waiting, pending])
    for run_id in (done, failed, waiting, pending):
        assert status(aiki, run_id, "--store", target) == status(aiki, run_id)
        exported = aiki("export", run_id, "--store", target).stdout
        assert exported == aiki("export", run_id).stdout  # the journal's lines, unchanged
    assert aiki("worker", "--until-idle", "--store", target).code == 0
    assert status(aiki, waiting, "--store", target)["result"] == "early"
    assert status(aiki, waiting)["status"] == "awaiting_event"  # a copy, not a move
    back = str(tmp_path / "back")  # and back again, from the other kind of store
    assert aiki("copy", "--from", target, "--to", back).code == 0
    for run_id in (done, failed, waiting, pending):
        assert status(aiki, run_id, "--store", back) == status(aiki, run_id, "--store", target)


def test_copy_by_status_or_id_takes_only_those(aiki: Invoke, tmp_path: Path) -> None:
    done = started(aiki, "e2e-echo@1.0.0", "--wait")
    failed = started(aiki, "e2e-boom@1.0.0", "--wait")
    assert aiki("copy", "--to", "a", "--status", "failed").stdout.split() == [failed]
    assert aiki("copy", "--to", "b", done).stdout.split() == [done]
    again = aiki("copy", "--to", "b", done)
    assert (again.code, again.stdout) == (2, "") and "already exists" in again.stderr


def test_copy_refuses_a_run_a_worker_holds_and_copies_nothing(aiki: Invoke, tmp_path: Path) -> None:
    first = started(aiki, "e2e-echo@1.0.0", "--wait")
    held = started(aiki, "e2e-echo@1.0.0", "--wait")
    claim = FileStore(tmp_path / "runs").claim(held)
    assert claim is not None
    try:
        outcome = aiki("copy", "--to", "elsewhere", first, held)
    finally:
        claim.release()
    assert (outcome.code, outcome.stdout) == (1, "")
    assert f"run {held}" in outcome.stderr and "claimed by a worker" in outcome.stderr
    assert aiki("list", "--json", "--runs-dir", "elsewhere").json() == []


def test_a_worker_with_retention_in_aiki_yaml_removes_old_ended_runs(
    aiki: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done, failed, waiting = parked_runs(aiki, monkeypatch, tmp_path)
    Path("aiki.yaml").write_text("retention: 1h\n")
    worker = aiki("worker", "--until-idle", env=later(tmp_path))
    assert worker.code == 0, worker
    assert "retention: removed 2 run(s)" in worker.stderr
    assert done in worker.stderr and failed in worker.stderr
    assert [run["id"] for run in aiki("list", "--json").json()] == [waiting]


def test_a_worker_flag_retention_overrides_the_file_and_a_bad_one_is_refused(
    aiki: Invoke, tmp_path: Path
) -> None:
    run_id = started(aiki, "e2e-echo@1.0.0", "--wait")
    Path("aiki.yaml").write_text("retention: soon\n")
    refused = aiki("worker", "--until-idle")
    assert (refused.code, refused.stdout) == (2, "") and "retention" in refused.stderr
    kept = aiki("worker", "--until-idle", "--retention", "3h", env=later(tmp_path))
    assert kept.code == 0 and aiki("status", run_id).code == 0
    removed = aiki("worker", "--until-idle", "--retention", "1h", env=later(tmp_path))
    assert removed.code == 0 and aiki("status", run_id).code == 4
