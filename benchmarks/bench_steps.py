"""Step overhead: what one durable task call costs, against the disk's fsync'd-append limit
and against DBOS Transact on SQLite, all measured in this one run.

One run of K no-op tasks is timed for each K (1 ... 1000) and the per-step overhead is
the least-squares slope over K, so the constant costs of a run (claiming it, starting and
ending it, the worker's start) drop out. Baselines, measured in the same repeat:

- the fsync'd-append limit: append a ~300-byte JSON line to a file in the same directory
  and `fdatasync` it (what aiki's journal does for each result), median of 200;
- DBOS's per-step overhead: the slope of a DBOS workflow of K no-op `@DBOS.step`s.

Diagnostics (how the step's cost splits): the same sweep on the in-memory store (CPU of
the engine alone), on the file store with fsync turned off (CPU + write syscalls), with
plain-function tasks (the thread pool), and the syscalls counted per step.

    python benchmarks/bench_steps.py            # full: K up to 1000, 3 repeats, DBOS
    python benchmarks/bench_steps.py --smoke    # seconds; what CI runs
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import _common as c
import bench_flows

from aiki_cli import Client, Worker

KS = [1, 10, 100, 250, 500, 1000]
SMOKE_KS = [1, 5, 10]
SAMPLES = 30  # fsync'd appends sampled before each timed run


def aiki_sweep(
    store: Path | str,
    ks: list[int],
    *,
    sync_tasks: bool = False,
    between: Callable[[], None] = lambda: None,
) -> dict[int, float]:
    """Seconds of one run of k no-op tasks, for each k, executed by an in-process worker;
    `between()` is called before each run (it takes the baseline's samples)."""

    async def sweep() -> dict[int, float]:
        client = Client(store)
        await bench_flows.steps_v1.start(client, {"k": 1})  # warm up: imports, the layout
        await Worker(client, [bench_flows.steps]).run(until_idle=True)
        times = {}
        for k in ks:
            await bench_flows.steps_v1.start(client, {"k": k, "sync": sync_tasks})
            worker = Worker(client, [bench_flows.steps])
            between()
            start = time.perf_counter()
            await worker.run(until_idle=True)
            times[k] = time.perf_counter() - start
        return times

    return asyncio.run(sweep())


def per_step(times: dict[int, float]) -> float:
    ks = sorted(times)
    return c.slope(ks, [times[k] for k in ks])


def syscalls_per_step(base: Path, k: int) -> dict[str, float]:
    """fsync, fdatasync, write and open calls per step (slope between 1 and k steps)."""
    counts = {}
    for steps in (1, k):
        with c.scratch(base, "count") as store, c.counting_syscalls() as seen:
            aiki_sweep(store, [steps])
            counts[steps] = dict(seen)
    return {name: (counts[k][name] - counts[1][name]) / (k - 1) for name in counts[k]}


def dbos_per_step(base: Path, ks: list[int], between: Callable[[], None]) -> float:
    between()
    with c.scratch(base, "dbos-steps") as folder:
        out = c.run_json(
            [
                sys.executable,
                str(c.BENCH_DIR / "_dbos_peer.py"),
                "steps",
                "--db",
                str(folder / "dbos.sqlite"),
                "--ks",
                ",".join(map(str, ks)),
            ]
        )
    between()
    return per_step({int(k): s for k, s in out["times"].items()})


def one_repeat(base: Path, ks: list[int], peer: bool) -> dict[str, float]:
    """Per-step seconds of every variant, and the fsync'd-append limit sampled between."""
    row: dict[str, float] = {}
    limit = c.AppendProbe(base)
    limit_fsync = c.AppendProbe(base, "fsync")

    def between() -> None:
        limit.sample(SAMPLES)
        limit_fsync.sample(SAMPLES // 2)

    try:
        with c.scratch(base, "steps") as store:
            row["aiki"] = per_step(aiki_sweep(store, ks, between=between))
        with c.scratch(base, "steps-sync") as store:
            row["aiki_sync_tasks"] = per_step(aiki_sweep(store, ks, sync_tasks=True))
        with c.scratch(base, "steps-nofsync") as store, c.no_fsync():
            row["aiki_no_fsync"] = per_step(aiki_sweep(store, ks))
        row["aiki_memory"] = per_step(aiki_sweep(":memory:", ks))
        if peer:
            row["dbos"] = dbos_per_step(base, ks, between)
        row["fdatasync"], row["fsync"] = limit.median(), limit_fsync.median()
    finally:
        limit.close()
        limit_fsync.close()
    return row


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--ks", type=lambda t: [int(k) for k in t.split(",")], help="the Ks")
    args = c.parse(options, argv)
    ks = args.ks or (SMOKE_KS if args.smoke else KS)
    report = c.Report("bench_steps", args)
    report.header()
    report.note(f"K = {ks}; no-op async tasks; store in a fresh directory under {args.dir}")
    peer = c.peer_available(args, report)

    rows: list[dict[str, float]] = []
    for repeat in range(args.repeats):
        rows.append(one_repeat(args.dir, ks, peer))
        shown = ", ".join(f"{name} {value * 1e6:.1f} us" for name, value in rows[-1].items())
        report.note(f"repeat {repeat + 1}: {shown}")

    def med(name: str) -> float:
        return c.median([row[name] for row in rows]) * 1e6

    def ratio(name: str, of: str) -> float:
        return c.median([row[name] / row[of] for row in rows])

    report.result("steps.fsync_append", med("fdatasync"), "us")
    report.result(
        "steps.fsync_append_fsync", med("fsync"), "us", baseline=med("fdatasync"), of="fdatasync"
    )
    report.result(
        "steps.aiki.per_step",
        med("aiki"),
        "us",
        baseline=med("fdatasync"),
        of="fsync_append",
        ratio=ratio("aiki", "fdatasync"),
        target=c.Target("<=", 2),
    )
    for name in ("aiki_no_fsync", "aiki_memory", "aiki_sync_tasks"):
        report.result(
            f"steps.{name}.per_step",
            med(name),
            "us",
            baseline=med("aiki"),
            of="aiki_per_step",
            ratio=ratio(name, "aiki"),
        )
    if peer:
        report.result("steps.dbos.per_step", med("dbos"), "us")
        report.result(
            "steps.aiki_vs_dbos.per_step",
            med("aiki"),
            "us",
            baseline=med("dbos"),
            of="dbos_per_step",
            ratio=ratio("aiki", "dbos"),
            target=c.Target("<=", 0.1),
        )
    k = max(ks)
    for name, per in syscalls_per_step(args.dir, k).items():
        report.result(f"steps.syscalls.{name}", per, "per_step")
    report.finish()


if __name__ == "__main__":
    main()
