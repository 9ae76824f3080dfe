"""Starting many runs at once (`FileStore.create_runs`): the steps of one start
(`FileStore._stage`), each taken for the whole batch, so that the batch waits for the disk
a few times, not a few times per run.

1. each run is staged in tmp/<id>: its start record and its empty journal, unflushed;
2. all of that is made durable at once (`sync_all`: one `syncfs` where it can);
3. the runs are added to the creation log in one write, and queued: a hard link in
   ready/ to each staged start record, then one flush of ready/;
4. each staged run is renamed into run/ (its moment of truth), then one flush of run/.

A kill at any point leaves each run of the batch as a kill leaves one start: staged in
tmp/ (never a run: no reader or worker looks there; `aiki doctor` removes it), listed and
queued without a run in run/ (passed over by `list` and the workers), or whole in run/ and
queued. None of the batch's ids has been given to anyone before every run is whole.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ...model.runinfo import RunSpec
from .indexes import Indexes
from .syncio import DIR_MODE, FILE_MODE, fsync_dir, sync_all, write_unsynced

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def create_runs(
    root: Path, indexes: Indexes, specs: Sequence[RunSpec], discard: Callable[[str], None]
) -> None:
    """Store and queue the runs of `specs` (none keyed) in the store at `root`; on an
    `OSError`, `discard` each of them (no id was given out) and raise it."""
    indexes.lay_out()
    # Plain strings, not Paths: at a thousand runs, building Paths costs as much as a create.
    tmp, ready, run = (os.path.join(root, name) for name in ("tmp", "ready", "run"))
    staged: list[str] = []
    try:
        for spec in specs:
            staged.append(_stage(os.path.join(tmp, spec.id), spec))
        sync_all([Path(folder, "run.json") for folder in staged], [Path(f) for f in staged])
        indexes.log_created(*specs)
        for spec, folder in zip(specs, staged, strict=True):
            with contextlib.suppress(FileExistsError):
                os.link(os.path.join(folder, "run.json"), os.path.join(ready, spec.id))
        fsync_dir(Path(ready))
        for spec, folder in zip(specs, staged, strict=True):
            os.rename(folder, os.path.join(run, spec.id))
        fsync_dir(Path(run))
    except OSError:
        for spec in specs:
            discard(spec.id)
        raise


def _stage(folder: str, spec: RunSpec) -> str:
    """The run's folder in tmp/, with its start record and its empty journal, unflushed."""
    os.mkdir(folder, DIR_MODE)
    data = spec.model_dump_json(indent=2).encode() + b"\n"
    write_unsynced(os.path.join(folder, "run.json"), data)
    os.close(os.open(os.path.join(folder, "journal.jsonl"), _CREATE, FILE_MODE))
    return folder
