"""Memory: the peak resident memory of a worker process on a store holding 100 finished
runs and on one holding 100,000, as a ratio against the 100-run store and against a
worker on an empty store, all measured in the same run.

In each repeat, 50 one-task runs are started in each store, then `aiki worker
--until-idle` executes them and exits; its peak RSS is read from the kernel (`wait4`'s
ru_maxrss, through a small launcher: see `_common.peak_rss`). A worker never reads the
history, so its memory must not grow with it.

    python benchmarks/bench_memory.py --stores /work/.bench-stores   # builds once, keeps
    python benchmarks/bench_memory.py --smoke
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import _common as c
import _stores
import bench_flows

from aiki_cli import Client

SIZES = [100, 100_000]
SMOKE_SIZES = [30, 100]
NEW_RUNS = 50
SMOKE_NEW_RUNS = 5


def open_store(args: Any, size: int, report: c.Report) -> Path:
    store = (args.stores or args.scratch) / f"memory-{size}"  # its new runs stay there
    _, seconds = _stores.reuse_or_build(store, size)
    if seconds is None:
        report.note(f"store of {size} runs: reusing {store}")
    else:
        report.note(f"store of {size} runs built in {seconds:.1f}s")
    return store


def worker_rss(store: Path, new_runs: int) -> int:
    """Start `new_runs` runs; the peak RSS (KiB) of the worker that executes them."""

    async def start() -> None:
        client = Client(store)
        for i in range(new_runs):
            await bench_flows.one_v1.start(client, i)

    asyncio.run(start())
    return c.peak_rss(c.aiki(store, "worker", "--until-idle", "--concurrency", "10"))


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--sizes", type=lambda t: [int(n) for n in t.split(",")])
    options.add_argument("--stores", type=Path, help="keep the built stores here, reuse them")
    args = c.parse(options, argv)
    sizes = args.sizes or (SMOKE_SIZES if args.smoke else SIZES)
    new_runs = SMOKE_NEW_RUNS if args.smoke else NEW_RUNS
    report = c.Report("bench_memory", args)
    report.header()
    report.note(f"worker peak RSS; stores of {sizes} finished runs, {new_runs} new runs each")
    rows: defaultdict[str, list[float]] = defaultdict(list)
    with c.scratch(args.dir, "memory") as scratch:
        args.scratch = scratch
        stores = {str(size): open_store(args, size, report) for size in sizes}
        stores["empty"] = scratch / "empty"
        for repeat in range(args.repeats):
            for name, store in stores.items():
                rows[name].append(worker_rss(store, new_runs))
            shown = ", ".join(f"{name} {rss[-1] / 1024:.1f} MiB" for name, rss in rows.items())
            report.note(f"repeat {repeat + 1}: {shown}")
    base = str(min(sizes))
    for name in stores:
        ratios = [mine / ref for mine, ref in zip(rows[name], rows[base], strict=True)]
        report.result(
            f"memory.worker_rss.{name}",
            c.median(rows[name]) / 1024,
            "MiB",
            baseline=c.median(rows[base]) / 1024,
            of=f"{base}-run store",
            ratio=c.median(ratios),
            target=c.Target("<=", 1.05) if name not in (base, "empty") else None,
        )
    report.finish()


if __name__ == "__main__":
    main()
