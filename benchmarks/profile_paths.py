"""Profiles of the hot paths, for finding what to make cheaper (not a benchmark: the
profiler's own cost inflates every figure; compare functions with each other).

- step:   one run of K no-op tasks, executed by an in-process worker (the per-step path);
- worker: N pending one-task runs executed by one in-process worker, concurrency C
          (the throughput path, without process start-up);
- start:  N runs started through the client.

    python benchmarks/profile_paths.py step --k 2000                  # cProfile, top 25
    python benchmarks/profile_paths.py worker --runs 1000 --pyinstrument
    python benchmarks/profile_paths.py step --no-fsync                # CPU and writes only

cProfile's table is printed per unit of work (µs per step, or per run) by cumulative
and by own time; `--pyinstrument` prints pyinstrument's call tree instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import _common as c
import bench_flows

from aiki_cli import Client, Worker


def step_path(store: Path, k: int) -> Callable[[], Awaitable[None]]:
    client = Client(store)

    async def prepare() -> None:
        await bench_flows.steps_v1.start(client, {"k": 1})
        await Worker(client, [bench_flows.steps]).run(until_idle=True)
        await bench_flows.steps_v1.start(client, {"k": k})

    asyncio.run(prepare())

    async def work() -> None:
        await Worker(client, [bench_flows.steps]).run(until_idle=True)

    return work


def worker_path(store: Path, runs: int, concurrency: int) -> Callable[[], Awaitable[None]]:
    client = Client(store)

    async def prepare() -> None:
        for i in range(runs):
            await bench_flows.one_v1.start(client, i)

    asyncio.run(prepare())

    async def work() -> None:
        await Worker(client, [bench_flows.one], concurrency=concurrency).run(until_idle=True)

    return work


def start_path(store: Path, runs: int) -> Callable[[], Awaitable[None]]:
    client = Client(store)

    async def work() -> None:
        for i in range(runs):
            await bench_flows.one_v1.start(client, i)

    return work


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("path", choices=["step", "worker", "start"])
    options.add_argument("--k", type=int, default=2000, help="tasks in the run (step)")
    options.add_argument("--runs", type=int, default=1000, help="runs (worker, start)")
    options.add_argument("--concurrency", type=int, default=10)
    options.add_argument("--no-fsync", action="store_true", help="fsync does nothing")
    options.add_argument("--pyinstrument", action="store_true")
    options.add_argument("--top", type=int, default=25)
    options.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = options.parse_args()
    with c.scratch(args.dir, "profile") as store:
        if args.path == "step":
            work, units, unit = step_path(store, args.k), args.k, "step"
        elif args.path == "worker":
            work, units, unit = worker_path(store, args.runs, args.concurrency), args.runs, "run"
        else:
            work, units, unit = start_path(store, args.runs), args.runs, "start"
        with c.no_fsync() if args.no_fsync else contextlib.nullcontext():
            if args.pyinstrument:
                profile_pyinstrument(work)
            else:
                profile_cprofile(work, units, unit, args.top)


def profile_pyinstrument(work: Callable[[], Awaitable[None]]) -> None:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    asyncio.run(work())
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def profile_cprofile(work: Callable[[], Awaitable[None]], units: int, unit: str, top: int) -> None:
    profiler = cProfile.Profile()
    seconds = c.timed(lambda: profiler.runcall(asyncio.run, work()))
    each = seconds / units * 1e6
    print(f"{units} {unit}s in {seconds:.2f}s under cProfile: {each:.0f} us/{unit}")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(top)
        print(f"\n== by {order} time; columns are seconds for all {units} {unit}s")
        print(out.getvalue().split("\n", 6)[-1])


if __name__ == "__main__":
    main()
