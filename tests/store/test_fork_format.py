"""A fork's start record in the file store: written as before forks existed when a run is
no fork, and readable by an aiki that predates forks when it is one (format 1 both)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from aiki_cli.model.runinfo import ForkOrigin, new_spec
from aiki_cli.store.files import FileStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class RunSpecBeforeForks(BaseModel):
    """`run.json` as aiki read it before forks (its model's fields and configuration)."""

    format: int = 1
    id: str
    workflow: str
    version: str
    input: Any = None
    created_at: datetime
    idempotency_key: str | None = None
    parent_id: str | None = None
    not_before: datetime | None = None


def run_json(store: FileStore, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((store.root / "run" / run_id / "run.json").read_bytes())
    return data


def test_a_run_that_is_no_fork_is_written_as_before(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    spec = store.create_run(new_spec("orders", "1.0.0", {"n": 1}, T0))

    assert list(run_json(store, spec.id)) == list(RunSpecBeforeForks.model_fields)


def test_a_forks_start_record_is_read_by_an_older_reader_and_by_this_one(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path)
    origin = ForkOrigin(run_id="01m8xcramvjr1fxf82pebkh8yx", task="charge", call=2)
    spec = store.create_run(new_spec("orders", "1.0.0", {"n": 1}, T0, forked_from=origin))
    stored = run_json(store, spec.id)

    assert stored["format"] == 1
    assert stored["forked_from"] == {"run_id": origin.run_id, "task": "charge", "call": 2}
    older = RunSpecBeforeForks.model_validate(stored)
    assert (older.id, older.workflow, older.input) == (spec.id, "orders", {"n": 1})
    assert store.read_run(spec.id)[0].forked_from == origin
    assert store.read_summary(spec.id).forked_from == origin
