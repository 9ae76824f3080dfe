"""Scaling with history: what `status`, `list`, claiming the next ready run and firing a
timer cost in stores holding 100, 10,000 and 100,000 finished runs, as a ratio against
the 100-run store measured in the same run.

Measured in-process (the store's own cost, median of hundreds of calls):

- status: `Client.get(id)` of a random finished run (what `aiki status` calls);
- list:   `Client.list(limit=20)` (what `aiki list --limit 20` calls);
- claim:  a worker's claim of the next ready run: `ready_runs()`, `claim()`, `release()`,
          with one pending run in the store;
- timer:  `Worker.fire_timers()` with one parked run's timer due.

and through the real executable (median of 5, Python's start-up included):
`aiki status <id> --json` and `aiki list --limit 20 --json`.

    python benchmarks/bench_scale.py --stores /work/.bench-stores   # builds once, keeps
    python benchmarks/bench_scale.py --smoke                        # stores of 10 and 100
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from collections import defaultdict
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import _common as c
import _stores
import bench_flows

from aiki_cli import Client, Worker

SIZES = [100, 10_000, 100_000]
SMOKE_SIZES = [30, 100]
CALLS = {"status": 300, "list": 100, "claim": 300, "timer": 300}
SMOKE_CALLS = {"status": 20, "list": 10, "claim": 20, "timer": 20}
CLI_CALLS = 5


class Probe:
    """The operations measured, on one store, with the runs they need."""

    def __init__(self, store: Path, ids: list[str]) -> None:
        self.ids = ids
        self.loop = asyncio.new_event_loop()
        self.client = Client(store)
        self.store = self.client.store
        self.worker = Worker(self.client, [bench_flows.one])
        self.ready = self.client.create(bench_flows.one_v1, "ready")  # queued: claimable
        self.parked = self.client.create(bench_flows.one_v1, "parked")
        claim = self.store.claim(self.parked.id)
        assert claim is not None
        claim.set_ready(False)
        claim.release()

    def status(self) -> None:
        info = self.loop.run_until_complete(self.client.get(random.choice(self.ids)))
        assert info.status == "completed"

    def list(self) -> None:
        assert len(self.loop.run_until_complete(self.client.list(limit=20))) == 20

    def claim(self) -> None:
        ready = self.store.ready_runs()
        claim = self.store.claim(ready[0])
        assert claim is not None
        claim.release()

    def arm_timer(self) -> None:
        claim = self.store.claim(self.parked.id)
        assert claim is not None
        claim.set_timer(self.client.clock.now() - timedelta(seconds=1))
        claim.set_ready(False)
        claim.release()

    def timer(self) -> None:
        assert self.loop.run_until_complete(self.worker.fire_timers()) == 1

    def times(self, name: str, count: int) -> list[float]:
        """`count` timings of the operation `name`, in seconds."""
        times = []
        for _ in range(count):
            if name == "timer":
                self.arm_timer()
            times.append(c.timed(getattr(self, name)))
        return times

    def close(self) -> None:
        """Leave the store as built: nothing ready, no timer."""
        for run in (self.ready, self.parked):
            claim = self.store.claim(run.id)
            assert claim is not None
            claim.set_timer(None)
            claim.set_ready(False)
            claim.release()
        self.loop.close()


def open_store(args: Any, size: int, report: c.Report) -> tuple[Path, list[str]]:
    """The store of `size` finished runs: reused from `--stores`, or built now."""
    store = (args.stores or args.scratch) / f"scale-{size}"
    ids, seconds = _stores.reuse_or_build(store, size, method=args.build)
    if seconds is None:
        report.note(f"store of {size} runs: reusing {store}")
    else:
        report.result(f"scale.build.{args.build}.{size}", size / seconds, "runs/s")
    return store, ids


def cli_status(store: Path, ids: list[str]) -> None:
    """`aiki status <id> --json` of a finished run; checks what it printed."""
    run_id = random.choice(ids)
    status = json.loads(_cli(store, "status", run_id, "--json"))
    assert status["status"] == "completed" and status["id"] == run_id, status


def cli_list(store: Path, ids: list[str]) -> None:
    """`aiki list --limit 20 --json`; checks that it lists the newest finished runs."""
    listed = [run["id"] for run in json.loads(_cli(store, "list", "--limit", "20", "--json"))]
    newest = ids[:-21:-1]
    built = [run_id for run_id in listed if run_id in newest]  # the others: runs added later
    assert len(listed) == 20 and built == newest[: len(built)], listed


def _cli(store: Path, *args: str) -> str:
    done = subprocess.run(
        c.aiki(store, *args), env=c.child_env(), capture_output=True, text=True, check=True
    )
    return done.stdout


def api_build_rate(base: Path, count: int) -> float:
    """Runs per second when built through the store API (fsync'd), for comparison."""
    with c.scratch(base, "api-build") as store:
        return count / c.timed(lambda: _stores.build(store, count, method="api"))


def measure(
    stores: dict[int, tuple[Path, list[str]]], calls: dict[str, int], cli_calls: int
) -> dict[int, dict[str, float]]:
    """Median seconds of each operation on each store. The stores take turns in rounds,
    so a slow spell of the machine falls on all of them alike."""
    probes = {size: Probe(store, ids) for size, (store, ids) in stores.items()}
    times: dict[int, dict[str, list[float]]] = {size: defaultdict(list) for size in stores}
    try:
        for name, count in calls.items():
            rounds = min(count, 10)
            for _ in range(rounds):
                for size, probe in probes.items():
                    times[size][name] += probe.times(name, count // rounds)
        for _ in range(cli_calls):
            for size, (store, ids) in stores.items():
                times[size]["cli_status"].append(c.timed(partial(cli_status, store, ids)))
                times[size]["cli_list"].append(c.timed(partial(cli_list, store, ids)))
    finally:
        for probe in probes.values():
            probe.close()
    return {size: {k: c.median(v) for k, v in row.items()} for size, row in times.items()}


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--sizes", type=lambda t: [int(n) for n in t.split(",")])
    options.add_argument("--stores", type=Path, help="keep the built stores here, reuse them")
    options.add_argument("--build", choices=["files", "api"], default="files")
    args = c.parse(options, argv)
    sizes = args.sizes or (SMOKE_SIZES if args.smoke else SIZES)
    calls = SMOKE_CALLS if args.smoke else CALLS
    report = c.Report("bench_scale", args)
    report.header()
    report.note(f"stores of {sizes} finished runs, built with --build {args.build}")
    with c.scratch(args.dir, "scale") as scratch:
        args.scratch = scratch
        stores = {size: open_store(args, size, report) for size in sizes}
        api_count = 20 if args.smoke else 500
        report.result("scale.build.api_rate", api_build_rate(args.dir, api_count), "runs/s")
        rows: defaultdict[int, list[dict[str, float]]] = defaultdict(list)
        for repeat in range(args.repeats):
            measured = measure(stores, calls, 1 if args.smoke else CLI_CALLS)
            for size, row in measured.items():
                rows[size].append(row)
                shown = ", ".join(
                    f"{k} {v * 1e3:.0f} ms" if k.startswith("cli") else f"{k} {v * 1e6:.0f} us"
                    for k, v in row.items()
                )
                report.note(f"repeat {repeat + 1}: {size} runs: {shown}")
    base = min(sizes)
    for name in [*calls, "cli_status", "cli_list"]:
        unit, scale = ("ms", 1e3) if name.startswith("cli") else ("us", 1e6)
        for size in sizes:
            ratios = [
                row[name] / ref[name] for row, ref in zip(rows[size], rows[base], strict=True)
            ]
            report.result(
                f"scale.{name}.{size}",
                c.median([row[name] for row in rows[size]]) * scale,
                unit,
                baseline=c.median([row[name] for row in rows[base]]) * scale,
                of=f"{base}-run store",
                ratio=c.median(ratios),
                target=c.Target("<=", 1.5) if size != base else None,
            )
    report.finish()


if __name__ == "__main__":
    main()
