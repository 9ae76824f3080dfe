"""Throughput: 1,000 one-task runs started through the client, then executed by
`aiki worker --until-idle` processes; runs per second, against DBOS's queue doing the
same work in the same run.

For each (worker processes, --concurrency) configuration, on a fresh store:

1. start: `Client.start` 1,000 runs of a workflow with one no-op task (timed: starts/s);
2. process: spawn the worker processes at once and wait for all of them to exit;
   runs/s = 1,000 / (spawn to last exit), process start-up included. "busy" runs/s
   leave start-up out: first run's start to last run's end, from the journals.

Beside them, per repeat: an idle worker's start-up, alternating (`STARTUP_PAIRS` times)
with a process that only imports the stack aiki's command line is built on
(`STACK_IMPORTS`), the floor under that start-up; and the disk's
fsync'd-append time (DBOS's queue makes ~8 fdatasyncs a workflow, so a slow-syncing disk
slows DBOS far more than aiki, whose worker syncs many runs at once).

DBOS does the same: one process enqueues 1,000 one-step workflows on a queue (its
`DBOS.launch` untimed), then DBOS processes with that worker concurrency execute the
queue until it is empty (`launch` included, as aiki's process start-up is).

    python benchmarks/bench_throughput.py           # full (several minutes with DBOS)
    python benchmarks/bench_throughput.py --smoke   # 20 runs, two configurations
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import _common as c
import bench_flows

from aiki_cli import Client
from aiki_cli.model.entry import StatusChanged
from aiki_cli.model.status import RunStatus
from aiki_cli.store.files import FileStore

# What any asyncio command line built on typer and pydantic imports: the floor under a
# worker's start-up that aiki's own code cannot lower.
STACK_IMPORTS = "import asyncio, typer; from pydantic import BaseModel, Field"
CONFIGS = [(1, 1), (1, 10), (1, 100), (2, 10), (2, 100), (4, 10), (4, 100)]
SMOKE_CONFIGS = [(1, 10), (2, 10)]
DBOS_CONFIGS = [(1, 10), (1, 100)]
STARTUP_PAIRS = 5  # per repeat: an idle worker's start-up, then the stack's imports


def start_runs(store: Path, count: int) -> tuple[float, list[str]]:
    """Start `count` one-task runs through the client: seconds, run ids."""

    async def starts() -> list[str]:
        client = Client(store)
        return [(await bench_flows.one_v1.start(client, i)).id for i in range(count)]

    start = time.perf_counter()
    ids = asyncio.run(starts())
    return time.perf_counter() - start, ids


def aiki_config(base: Path, runs: int, procs: int, concurrency: int) -> dict[str, float]:
    with c.scratch(base, "throughput") as store, c.Children() as children:
        start_s, ids = start_runs(store, runs)
        args = c.aiki(store, "worker", "--until-idle", "--concurrency", str(concurrency))
        began = time.perf_counter()
        workers = [children.spawn(args, log=store / f"worker-{n}.log") for n in range(procs)]
        for worker in workers:
            children.wait(worker)
        wall = time.perf_counter() - began
        busy = busy_seconds(FileStore(store), ids)
    return {"start": runs / start_s, "wall": runs / wall, "busy": runs / busy}


def busy_seconds(store: FileStore, ids: list[str]) -> float:
    """First run's start to last run's end, from the journals; every run must be done."""
    first: datetime | None = None
    last: datetime | None = None
    for run_id in ids:
        changes = [e for e in store.read_run(run_id)[1] if isinstance(e, StatusChanged)]
        if not changes or changes[-1].new != RunStatus.COMPLETED:
            raise RuntimeError(f"run {run_id} did not complete")
        first = min(first or changes[0].at, changes[0].at)
        last = max(last or changes[-1].at, changes[-1].at)
    assert first is not None and last is not None
    return (last - first).total_seconds()


def lifetime(args: list[str]) -> float:
    """Seconds from spawning the command `args` to its exit."""
    with c.Children() as children:
        return c.timed(lambda: children.wait(children.spawn(args)))


def worker_startup(base: Path) -> float:
    """Seconds for `aiki worker --until-idle` to start and exit on an empty store."""
    with c.scratch(base, "startup") as store:
        return lifetime(c.aiki(store, "worker", "--until-idle"))


def stack_startup() -> float:
    """Seconds for a Python process to import `STACK_IMPORTS` and exit."""
    return lifetime([sys.executable, "-c", STACK_IMPORTS])


def dbos_config(base: Path, runs: int, procs: int, concurrency: int) -> dict[str, float]:
    with c.scratch(base, "dbos-throughput") as folder, c.Children() as children:
        db = ["--db", str(folder / "dbos.sqlite"), "--concurrency", str(concurrency)]
        enqueued = c.run_json([*c.DBOS_PEER, "enqueue", *db, "--runs", str(runs)])
        wall = c.dbos_serve(children, db, runs, procs, folder)
    return {"start": runs / enqueued["seconds"], "wall": runs / wall}


def dbos_startup(base: Path) -> float:
    """Seconds for a DBOS process to launch and exit on an empty queue."""
    with c.scratch(base, "dbos-startup") as folder:
        db = ["--db", str(folder / "dbos.sqlite")]
        c.run_json([*c.DBOS_PEER, "enqueue", *db, "--runs", "0"])
        return lifetime([*c.DBOS_PEER, "serve", *db, "--executor", "w0"])


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--runs", type=int, help="runs per configuration (default 1000)")
    args = c.parse(options, argv)
    runs = args.runs or (20 if args.smoke else 1000)
    configs = SMOKE_CONFIGS if args.smoke else CONFIGS
    report = c.Report("bench_throughput", args)
    report.header()
    report.note(f"{runs} one-task runs per configuration (processes, concurrency): {configs}")
    peer = c.peer_available(args, report)

    rows: defaultdict[str, list[dict[str, float]]] = defaultdict(list)
    for repeat in range(args.repeats):
        for _ in range(1 if args.smoke else STARTUP_PAIRS):  # alternating: the same spell
            rows["startup"].append({"aiki": worker_startup(args.dir), "stack": stack_startup()})
        # DBOS's queue makes ~8 fdatasyncs a workflow (strace): a slow disk slows it most.
        fsync = c.fsync_append_limit(args.dir, 100)
        rows["fsync"].append({"s": fsync})
        report.note(f"repeat {repeat + 1}: fsync'd append {fsync * 1e6:.0f} us")
        for procs, concurrency in configs:
            figures = aiki_config(args.dir, runs, procs, concurrency)
            rows[f"aiki.p{procs}c{concurrency}"].append(figures)
            report.note(f"repeat {repeat + 1}: aiki p{procs} c{concurrency}: {_show(figures)}")
        if peer:
            rows["dbos_startup"].append({"s": dbos_startup(args.dir)})
            for procs, concurrency in DBOS_CONFIGS:
                figures = dbos_config(args.dir, runs, procs, concurrency)
                rows[f"dbos.p{procs}c{concurrency}"].append(figures)
                report.note(f"repeat {repeat + 1}: dbos p{procs} c{concurrency}: {_show(figures)}")
    summarize(report, rows, peer, runs)
    report.finish()


def _show(figures: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.1f}/s" for name, value in figures.items())


def summarize(
    report: c.Report, rows: dict[str, list[dict[str, float]]], peer: bool, runs: int
) -> None:
    def med(name: str, figure: str) -> float:
        return c.median([row[figure] for row in rows[name]])

    report.result("throughput.disk.fsync_append", med("fsync", "s") * 1e6, "us")
    report.result("throughput.stack_startup", med("startup", "stack"), "s")
    report.result(
        "throughput.aiki.worker_startup",
        med("startup", "aiki"),
        "s",
        baseline=med("startup", "stack"),
        of="stack imports",
        ratio=c.median([row["aiki"] / row["stack"] for row in rows["startup"]]),
    )
    configs = [name for name in rows if name.startswith("aiki.p")]
    best = max(configs, key=lambda name: med(name, "wall"))
    report.result(
        "throughput.aiki.startup_of_best",
        med("startup", "aiki"),
        "s",
        baseline=runs / med(best, "wall"),
        of=f"{best} wall",
    )
    for name in configs:
        report.result(f"throughput.{name}.start", med(name, "start"), "runs/s")
        report.result(f"throughput.{name}.busy", med(name, "busy"), "runs/s")
        report.result(
            f"throughput.{name}.wall",
            med(name, "wall"),
            "runs/s",
            baseline=med(best, "wall"),
            of=f"best ({best})",
        )
    if not peer:
        return
    report.result("throughput.dbos.worker_startup", med("dbos_startup", "s"), "s")
    dbos = [name for name in rows if name.startswith("dbos.p")]
    dbos_best = max(dbos, key=lambda name: med(name, "wall"))
    for name in dbos:
        report.result(f"throughput.{name}.start", med(name, "start"), "runs/s")
        report.result(f"throughput.{name}.wall", med(name, "wall"), "runs/s")
        twin = "aiki" + name.removeprefix("dbos")
        if twin in rows:
            report.result(
                f"throughput.aiki_vs_dbos.{twin.removeprefix('aiki.')}",
                med(twin, "wall"),
                "runs/s",
                baseline=med(name, "wall"),
                of=name,
                ratio=_ratio(rows[twin], rows[name], "wall"),
                target=c.Target(">=", 20),
            )
    each = _per_repeat(rows[best], rows[dbos_best], "wall")
    report.note("best against best, per repeat: " + ", ".join(f"{r:.1f}x" for r in each))
    report.result(
        "throughput.aiki_vs_dbos.best",
        med(best, "wall"),
        "runs/s",
        baseline=med(dbos_best, "wall"),
        of=f"best dbos ({dbos_best})",
        target=c.Target(">=", 20),
    )
    report.result(
        "throughput.aiki_vs_dbos.start",
        med(best, "start"),
        "runs/s",
        baseline=med(dbos_best, "start"),
        of="dbos enqueue",
    )


def _ratio(mine: list[dict[str, Any]], theirs: list[dict[str, Any]], figure: str) -> float:
    """The median of the per-repeat ratios."""
    return c.median(_per_repeat(mine, theirs, figure))


def _per_repeat(
    mine: list[dict[str, Any]], theirs: list[dict[str, Any]], figure: str
) -> list[float]:
    """Each repeat's ratio, against the peer of the same repeat."""
    return [a[figure] / b[figure] for a, b in zip(mine, theirs, strict=True)]


if __name__ == "__main__":
    main()
