"""Stores full of finished runs, for the scaling and memory benchmarks.

Two ways to build one:

- `api`: each run through the store's own operations, as a worker leaves it —
  `FileStore.create_run`, `claim`, `append` of the journal entries, `set_ready(False)`.
  Every write is fsync'd, so this takes a few milliseconds a run (minutes for 100,000).
- `files` (the default): one real run is executed by a worker to get an authentic
  journal; then each run's files are written directly in the store's documented layout
  (`run/<id>/run.json`, `run/<id>/journal.jsonl`, a line of `index/created.log`), with
  aiki's own models and serializer, and without fsync. Fast (seconds for 100,000); the
  scripts then check that `aiki status` and `aiki list` read the store.

A store built with `--stores DIR` is kept and reused by later runs (its `.bench-built`
file records how many runs it holds).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bench_flows

from aiki_cli import Client, Worker
from aiki_cli.model.entry import Entry, dump_entry
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.store.files import FileStore
from aiki_cli.store.files.syncio import make_dirs
from aiki_cli.values.ids import new_run_id

MARKER = ".bench-built"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def template(scratch: Path) -> tuple[RunSpec, list[Entry]]:
    """The start record and journal of one real, finished run of `bench-one`."""

    async def one() -> str:
        client = Client(scratch)
        handle = await bench_flows.one_v1.start(client, 0)
        await Worker(client, [bench_flows.one]).run(until_idle=True)
        return handle.id

    run_id = asyncio.run(one())
    return FileStore(scratch).read_run(run_id)


def build(store: Path, count: int, *, method: str = "files") -> list[str]:
    """Fill `store` (empty) with `count` completed runs; their ids, oldest first."""
    with tempfile.TemporaryDirectory(prefix="aiki-bench-template-", dir=store.parent) as scratch:
        spec, entries = template(Path(scratch))
    if method == "api":
        return _build_api(store, count, spec, entries)
    return _build_files(store, count, spec, entries)


def _shifted(spec: RunSpec, entries: list[Entry], i: int) -> tuple[RunSpec, list[Entry]]:
    """The template moved to its own id, creation time and input."""
    created = EPOCH + timedelta(seconds=i)
    delta = created - spec.created_at
    run = spec.model_copy(
        update={"id": new_run_id(created, secrets.token_bytes(10)), "created_at": created}
    )
    journal = [entry.model_copy(update={"at": entry.at + delta}) for entry in entries]
    return run, journal


def _build_api(store: Path, count: int, spec: RunSpec, entries: list[Entry]) -> list[str]:
    files = FileStore(store)
    ids = []
    for i in range(count):
        run, journal = _shifted(spec, entries, i)
        files.create_run(run)
        claim = files.claim(run.id)
        assert claim is not None
        try:
            claim.append(*journal)
            claim.set_ready(False)
        finally:
            claim.release()
        ids.append(run.id)
    (store / MARKER).write_text(f"{count}\n")
    return ids


def _build_files(store: Path, count: int, spec: RunSpec, entries: list[Entry]) -> list[str]:
    for sub in ("run", "ready", "timers", "schedules", "index/keys", "tmp", "workers"):
        make_dirs(store / sub)
    ids = []
    index = []
    for i in range(count):
        run, journal = _shifted(spec, entries, i)
        folder = store / "run" / run.id
        folder.mkdir(mode=0o700)
        _write(folder / "run.json", run.model_dump_json(indent=2).encode() + b"\n")
        _write(folder / "journal.jsonl", b"".join(dump_entry(e) + b"\n" for e in journal))
        index.append(f"{run.id} {run.ref}\n")
        ids.append(run.id)
    _write(store / "index" / "created.log", "".join(index).encode())
    (store / MARKER).write_text(f"{count}\n")
    return ids


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def built(store: Path) -> list[str] | None:
    """The ids of the finished runs a store was built with (oldest first), or None.
    Runs the benchmarks added to it later are not among them."""
    try:
        count = int((store / MARKER).read_text())
    except (OSError, ValueError):
        return None
    ids = [ref.id for ref in FileStore(store).list_runs()]
    ids.reverse()
    return ids[:count] if len(ids) >= count else None


def reuse_or_build(
    store: Path, size: int, *, method: str = "files"
) -> tuple[list[str], float | None]:
    """The ids of the `size` finished runs in `store`, and the seconds building them took:
    None when an earlier benchmark built them (`--stores`)."""
    ids = built(store)
    if ids is not None:
        return ids, None
    store.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ids = build(store, size, method=method)
    return ids, time.perf_counter() - start
