"""A read of the file store without pydantic, for the front door (`cli/door.py`): a run's
`status --json` document, and the rows of `list --json`, from the plain JSON of its files
(`model/light.py` folds them).

It reads what `FileStore.read_summary` and `Client.list` read, the same way (the same
file opening, torn last line left out, a missing journal read as empty), and raises
`Unsure` (from `model.light`) for anything else: a missing or damaged run, a file it
cannot open, a journal long enough that the app's summary should fold it. The caller
then hands the command to the app, which says what is wrong exactly as always.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...model.light import Unsure, document, read_entry, read_spec
from ...model.plain import Record
from ...values.ids import RUN_ID
from ...values.jsontext import strict_loads
from .syncio import lines_backwards, read_file, read_lines

LONGEST = 1 << 20  # journal bytes folded here; past it, the app folds from its summary
REMOVED = "-"  # layout.REMOVED: "<id> -" in created.log, a removed run
CANCEL = "cancel"  # the request file a cancel leaves (model.mail.REQUESTS)


class NoRun(Unsure):
    """The run's start record is not there (a start that did not finish, for `list`)."""


def run_document(root: Path, run_id: str, *, full: bool = True) -> Record:
    """The run's `status --json` document (a `list --json` row when not `full`); `run_id`
    is a valid, lower-case id."""
    run_dir = root / "run" / run_id
    if not os.path.lexists(run_dir / "run.json"):
        raise NoRun(run_id)
    try:
        spec = read_spec(_json(read_file(run_dir / "run.json")))
        lines, size = read_lines(run_dir / "journal.jsonl")
        cancel = os.access(run_dir / CANCEL, os.F_OK)
    except (OSError, ValueError) as error:
        raise Unsure(str(error)) from None
    if spec["id"] != run_id or size > LONGEST:
        raise Unsure(f"run {run_id}: its files are for the app to read")
    entries = [read_entry(_json(line)) for line in lines]
    return document(spec, entries, cancel_requested=cancel, full=full)


def list_documents(
    root: Path, status: str | None, workflow: str | None, version: str | None, limit: int
) -> list[Record]:
    """`Client.list` (with `status`) or `list_with_damaged` (without), newest first, as
    `list --json` rows: at most `limit`. `Unsure` at the first run it cannot read."""
    rows: list[Record] = []
    for run_id, name, number in _listed(root):
        if (workflow and name != workflow) or (version and number != version):
            continue
        try:
            row = run_document(root, run_id, full=False)
        except NoRun:
            continue
        if status is None or row["status"] == status:
            rows.append(row)
            if len(rows) == limit:
                break
    return rows


def _listed(root: Path) -> Iterator[tuple[str, str, str]]:
    """`FileStore.list_runs`: each run of `created.log` once, newest first, unless removed."""
    seen: set[str] = set()
    try:
        for line in lines_backwards(root / "index" / "created.log"):
            run_id, _, ref = line.decode(errors="replace").partition(" ")
            workflow, _, version = ref.partition("@")
            if RUN_ID.fullmatch(run_id) and run_id not in seen:
                seen.add(run_id)
                if ref != REMOVED:
                    yield run_id, workflow, version
    except OSError as error:
        raise Unsure(str(error)) from None


def _json(data: bytes) -> Any:
    """JSON as the models' parser reads it; `Unsure` for what it would refuse or read
    otherwise (damaged text, NaN, infinities, numbers too large for a float)."""
    try:
        return strict_loads(data)
    except (ValueError, RecursionError) as error:
        raise Unsure(f"not JSON as the models read it: {error}") from None
