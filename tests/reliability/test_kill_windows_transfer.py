"""`aiki import` and `aiki gc` SIGKILLed at every file-system change they make (as
`test_kill_windows.py` does for start and send): the run is whole or absent, never half;
`aiki doctor --repair` makes the store healthy; repeating the command finishes the job;
and the imported run's task executes exactly once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aiki_cli.store.files import FileStore
from aiki_cli.store.files.doctor import examine

from .test_kill_windows import (
    Killer,
    aiki,
    executions,
    healthy,
    killed,
    parked,
    runs_in,
    statuses,
    sweep,
    work,
)

__all__ = ["aiki"]  # the fixture, shared with test_kill_windows
# What a kill may leave besides the run whole or absent: notes, not damage.
NOTES = {"stale-index", "orphan-ready"}


def repaired(store: Path, why: str) -> list[str]:
    """Repair the store; what doctor found (healthy afterwards)."""
    report = examine(FileStore(store), repair=True)
    healthy(store, why)
    return sorted({finding.kind for finding in report.findings})


@pytest.mark.timeout(600)
@pytest.mark.parametrize("key", [None, "order-1"], ids=["unkeyed", "keyed"])
def test_an_import_killed_anywhere_leaves_the_run_whole_or_absent(
    tmp_path: Path, aiki: Killer, key: str | None
) -> None:
    template, run_id, counter = parked(tmp_path)
    run = FileStore(template).export_run(run_id)
    spec = run.spec.model_copy(update={"idempotency_key": key})
    exported = tmp_path / "run.json"
    exported.write_text(run.model_copy(update={"spec": spec}).to_json())
    # A keyed run's key is taken before it moves in: a kill between leaves the key alone,
    # which the repeated import completes (or `doctor --repair` removes).
    allowed = NOTES | ({"orphan-key"} if key else set())

    def check(kill_at: int) -> bool:
        store = tmp_path / f"s{kill_at}"
        if not killed(aiki(store, kill_at, "import", str(exported))):
            return False
        assert runs_in(store) in ([], [run_id]), kill_at
        if runs_in(store):
            assert statuses(store) == ["awaiting_event"], kill_at
        assert set(repaired(store, f"after a kill at call {kill_at}")) <= allowed, kill_at
        again = aiki(store, 0, "import", str(exported))
        assert again.code in (0, 2), again  # 2: the run was in already
        assert aiki(store, 0, "send", run_id, "go", "--data-json", '"x"').code == 0
        counter.unlink(missing_ok=True)
        work(store)
        assert statuses(store) == ["completed"] and executions(counter) == 1, kill_at
        if key is not None:
            start = ["start", "win@2.0.0", "--input-json", json.dumps(spec.input)]
            start += ["--idempotency-key", key]
            assert aiki(store, 0, *start).stdout.strip() == run_id, kill_at  # its key
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 5


@pytest.mark.timeout(600)
def test_a_gc_killed_anywhere_removes_a_run_whole_or_not_at_all(
    tmp_path: Path, aiki: Killer
) -> None:
    template, waiting, _ = parked(tmp_path)
    Killer(tmp_path)(
        template,
        0,
        "start",
        "win@1.0.0",
        "--input-json",
        json.dumps({"counter": str(tmp_path / "c")}),
        "--idempotency-key",
        "k",
    )
    work(template)
    (done,) = set(runs_in(template)) - {waiting}
    missing_keys: list[int] = []  # kill points that left the kept run without its key

    def check(kill_at: int) -> bool:
        store = tmp_path / f"s{kill_at}"
        shutil.copytree(template, store)
        if not killed(aiki(store, kill_at, "gc", "--older-than", "1ms")):
            return False
        if done in runs_in(store):
            assert sorted(statuses(store)) == ["awaiting_event", "completed"], kill_at
        found = repaired(store, f"after a kill at call {kill_at}")
        missing_keys.extend(kill_at for kind in found if kind == "key-missing")
        assert set(found) <= NOTES | {"key-missing"}, kill_at
        assert not killed(aiki(store, 0, "gc", "--older-than", "1ms"))
        assert runs_in(store) == [waiting] and statuses(store) == ["awaiting_event"], kill_at
        listed = aiki(store, 0, "list", "--json")
        assert [run["id"] for run in json.loads(listed.stdout)] == [waiting], kill_at
        healthy(store, f"in the end, after a kill at call {kill_at}")
        return True

    assert sweep(check) > 5
    assert len(missing_keys) <= 1, missing_keys  # only between dropping the key and the move
