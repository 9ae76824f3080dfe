"""Recovery time: `kill -9` a worker in the middle of a run, then time how long a new
worker takes from its start to the run's completion; against a new worker executing the
same run from the start, uninterrupted, measured in the same run.

The run (`bench-recovery`) has K tasks; task K/2 waits for a release file, so the first
worker is killed while that task is in flight, with K/2 results journaled. The new worker
replays the K/2 recorded results, executes the interrupted task again and the rest.

- restart: `kill -9` the worker; a new `aiki worker --until-idle` starts; from its spawn
  to the run's completion (the journal's timestamp). Baseline: a new worker executing a
  fresh run of the same workflow, spawn to completion.
- takeover: a second worker is already serving when the first is killed; from the kill
  to the run's completion. Baseline: the live worker picking up a fresh run, from its
  start to completion.

    python benchmarks/bench_recovery.py
    python benchmarks/bench_recovery.py --smoke
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import _common as c
import bench_flows

from aiki_cli import Client
from aiki_cli.model.entry import Entry, Recovered, StatusChanged, TaskCompleted, TaskStarted
from aiki_cli.model.status import RunStatus
from aiki_cli.store.files import FileStore

K = 200
SMOKE_K = 10
DEADLINE = 60.0


def start_run(store: Path, k: int, release: Path) -> str:
    async def start() -> str:
        client = Client(store)
        handle = await bench_flows.recovery_v1.start(
            client, {"k": k, "hold_at": k // 2, "release": str(release)}
        )
        return handle.id

    return asyncio.run(start())


def journal(store: Path, run_id: str) -> list[Entry]:
    return FileStore(store).read_run(run_id)[1]


def wait_for(check: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def completed_at(store: Path, run_id: str) -> datetime | None:
    last = [e for e in journal(store, run_id) if isinstance(e, StatusChanged)]
    return last[-1].at if last and last[-1].new == RunStatus.COMPLETED else None


def holding(store: Path, run_id: str) -> bool:
    return any(isinstance(e, TaskStarted) and e.task == "hold" for e in journal(store, run_id))


def check_exactly_once(store: Path, run_id: str, k: int) -> None:
    """Every completed task ran once; the run was recovered once."""
    entries = journal(store, run_id)
    noops = [e for e in entries if isinstance(e, TaskCompleted) and e.task == "noop"]
    recovered = [e for e in entries if isinstance(e, Recovered)]
    assert len(noops) == k - 1 and len({e.hash for e in noops}) == k - 1, len(noops)
    assert len(recovered) == 1, recovered


def crash_mid_run(children: c.Children, store: Path, run_id: str) -> subprocess.Popen[bytes]:
    """A worker executing the run, stopped in its held task; still alive."""
    first = children.spawn(c.aiki(store, "worker"), log=store.parent / "first.log")
    wait_for(lambda: holding(store, run_id), "the run to reach its held task")
    return first


def kill9(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def spawn_to_completion(children: c.Children, store: Path, run_id: str) -> float:
    """Spawn a worker; seconds from its spawn to the run's completion."""
    began = datetime.now(UTC)
    children.wait(children.spawn(c.aiki(store, "worker", "--until-idle")))
    done = completed_at(store, run_id)
    assert done is not None, "the run did not complete"
    return (done - began).total_seconds()


def restart(base: Path, k: int) -> dict[str, float]:
    with c.scratch(base, "recovery") as folder, c.Children() as children:
        store, release = folder / "runs", folder / "release"
        release.touch()
        fresh = spawn_to_completion(children, store, start_run(store, k, release))
        release.unlink()
        run_id = start_run(store, k, release)
        kill9(crash_mid_run(children, store, run_id))
        release.touch()
        recovered = spawn_to_completion(children, store, run_id)
        check_exactly_once(store, run_id, k)
    return {"fresh": fresh, "recovered": recovered}


def takeover(base: Path, k: int) -> dict[str, float]:
    with c.scratch(base, "takeover") as folder, c.Children() as children:
        store, release = folder / "runs", folder / "release"
        run_id = start_run(store, k, release)
        first = crash_mid_run(children, store, run_id)
        live = children.spawn(c.aiki(store, "worker"), log=folder / "live.log")
        wait_for(lambda: len(FileStore(store).live_workers()) == 2, "the second worker")
        release.touch()
        killed = datetime.now(UTC)
        kill9(first)
        wait_for(lambda: completed_at(store, run_id) is not None, "the takeover")
        took = (completed_at(store, run_id) - killed).total_seconds()  # type: ignore[operator]
        check_exactly_once(store, run_id, k)
        begun = datetime.now(UTC)
        fresh_id = start_run(store, k, release)
        wait_for(lambda: completed_at(store, fresh_id) is not None, "the fresh run")
        fresh = (completed_at(store, fresh_id) - begun).total_seconds()  # type: ignore[operator]
        live.send_signal(signal.SIGTERM)
        children.wait(live, timeout=30)
    return {"takeover": took, "takeover_fresh": fresh}


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--k", type=int, help=f"tasks per run (default {K})")
    args = c.parse(options, argv)
    k = args.k or (SMOKE_K if args.smoke else K)
    report = c.Report("bench_recovery", args)
    report.header()
    report.note(f"runs of {k} no-op tasks, killed (-9) in task {k // 2}")
    rows: defaultdict[str, list[float]] = defaultdict(list)
    for repeat in range(args.repeats):
        figures = restart(args.dir, k) | takeover(args.dir, k)
        for name, value in figures.items():
            rows[name].append(value)
        shown = ", ".join(f"{name} {value * 1e3:.0f} ms" for name, value in figures.items())
        report.note(f"repeat {repeat + 1}: {shown}")
    for name, of in (("recovered", "fresh"), ("takeover", "takeover_fresh")):
        ratios = [a / b for a, b in zip(rows[name], rows[of], strict=True)]
        report.result(f"recovery.{of}", c.median(rows[of]) * 1e3, "ms")
        report.result(
            f"recovery.{name}",
            c.median(rows[name]) * 1e3,
            "ms",
            baseline=c.median(rows[of]) * 1e3,
            of=of,
            ratio=c.median(ratios),
        )
    report.finish()


if __name__ == "__main__":
    main()
