"""aiki on PostgreSQL: step overhead and throughput against DBOS Transact on the same
server in the same run, takeover after `kill -9`, and `status` and claim as history grows.

One server serves everything: `--url URL`, or a throwaway one made here with `initdb` and
`pg_ctl` (as `tests/postgres_server.py` makes the tests'), stopped and removed at the end.
aiki gets a fresh schema for each measurement; DBOS (whose native backend is PostgreSQL)
gets a fresh database of its own on the same server.

1. steps: one run of K sequential no-op tasks per K; per-step overhead = the slope over
   K (a run's constant costs drop out). DBOS: a workflow of K no-op `@DBOS.step`s, the
   same slope. Target: aiki <= 1/3 of DBOS's.
2. throughput: 1,000 one-task runs started through the client, then `aiki worker
   --until-idle` processes execute them: runs/s from spawn to the last exit. DBOS: 1,000
   one-step workflows enqueued, then DBOS processes execute the queue. Target: >= 5x.
3. takeover: a worker is `kill -9`ed in the middle of a run while a second worker serves;
   from the kill to the second worker's `recovered` entry (written the moment it has
   claimed the run). Median and max over the kills. Target: <= 1 s.
4. scale: `client.get` (what `aiki status ID --json` costs in-process) of a finished run
   and a claim+release of a ready run, with 100,000 stored runs against 100 (rows inserted
   with `create_runs` in batches and the journal copied in, not run one by one).
   Target: <= 1.5x.

    python benchmarks/bench_postgres.py              # full (~10 min with DBOS)
    python benchmarks/bench_postgres.py --smoke      # seconds; what CI runs
    python benchmarks/bench_postgres.py --url postgresql://user@host/db
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common as c
import bench_flows
from bench_steps import per_step

from aiki_cli import Client, Worker
from aiki_cli.model.entry import Entry, Recovered, StatusChanged, TaskStarted, dump_entry
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.status import RunStatus
from aiki_cli.store import open_store
from aiki_cli.values.ids import new_run_id

sys.path.insert(0, str(c.REPO))
from tests.postgres_server import binaries, fresh_schema, throwaway_server

KS = [1, 10, 100, 250, 500]
SMOKE_KS = [1, 5, 10]
# (worker processes, --concurrency). A worker's claims share one connection (until P5, a
# connection per run held: two workers at 100 needed more than the server's 400).
CONFIGS = [(1, 100), (2, 50), (2, 100)]
SMOKE_CONFIGS = [(1, 10)]
# DBOS is given the same configurations: two processes beat one for it too (~190 vs ~150
# runs/s on this machine), so best against best takes each side's best.
DBOS_CONFIGS = CONFIGS
KILLS, SMOKE_KILLS = 10, 1
SIZES, SMOKE_SIZES = [100, 100_000], [30, 100]
CALLS, SMOKE_CALLS = 300, 20
BATCH = 2_000  # runs per `create_runs` while filling a schema
DEADLINE = 60.0


# -- the server, its schemas and databases ------------------------------------------------


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    bin_dir = binaries()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL server binaries (initdb): pass --url URL")
    with throwaway_server(bin_dir) as made:
        yield made


def _admin(url: str) -> Any:
    from aiki_cli.store.postgres.connect import target

    conn = target(url).connect()
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def dbos_database(url: str) -> Iterator[str]:
    """A URL of a fresh database on the same server, for DBOS; dropped afterwards."""
    name = f"dbos_{secrets.token_hex(5)}"
    with _admin(url) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, sep, query = url.partition("?")
    try:
        yield f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"
    finally:
        with _admin(url) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def aiki_cmd(store: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aiki_cli",
        "--store",
        store,
        "--workflows-dir",
        str(c.WORKFLOWS),
        *args,
    ]


# -- 1. steps -----------------------------------------------------------------------------


def aiki_sweep(store: str, ks: list[int]) -> dict[int, float]:
    """Seconds of one run of k no-op tasks, for each k, executed by a worker already
    serving in this process: from the worker's claim (its `running` entry) to the moment
    a reader (`client.wait`, polling every 5 ms while entries arrive) sees it completed.

    Not `Worker.run(until_idle=True)` timed whole, as `bench_steps.py` does: that would
    count the worker's start and exit, constants a run, not a step's. (Until `451e14c`
    a PostgreSQL worker's exit also waited up to 0.5 s for its LISTEN thread, and a run
    started just after another ended up to ~0.6 s to be picked up.)
    """

    async def sweep() -> dict[int, float]:
        client = Client(store)
        worker = Worker(client, [bench_flows.steps])
        serving = asyncio.create_task(worker.run())
        try:
            times = {}
            for k in [1, *ks]:  # the first: warm up
                run = await bench_flows.steps_v1.start(client, {"k": k})
                info = await client.wait(run.id, timeout=DEADLINE)
                seen = datetime.now(UTC)
                assert info.status == RunStatus.COMPLETED, info.status
                times[k] = (seen - _running_at(await client.history(run.id))).total_seconds()
            return times
        finally:
            worker.stop()
            await serving
            client.store.close()  # type: ignore[attr-defined]

    return asyncio.run(sweep())


def _running_at(entries: list[Entry]) -> datetime:
    return next(
        e.at for e in entries if isinstance(e, StatusChanged) and e.new == RunStatus.RUNNING
    )


def steps(url: str, ks: list[int], peer: bool) -> dict[str, float]:
    row = {}
    with fresh_schema(url) as store:
        row["aiki"] = per_step(aiki_sweep(store, ks))
    if peer:
        with dbos_database(url) as db:
            out = c.run_json([*c.DBOS_PEER, "steps", "--db", db, "--ks", ",".join(map(str, ks))])
        row["dbos"] = per_step({int(k): s for k, s in out["times"].items()})
    return row


# -- 2. throughput ------------------------------------------------------------------------


def aiki_throughput(url: str, runs: int, procs: int, concurrency: int) -> tuple[float, int, str]:
    """Runs per second, the connections the workers opened, and where the CPU went: the
    workers' own (their rusage) and the whole machine's busy and idle time, server included
    (`/proc/stat`), in ms a run."""
    with fresh_schema(url) as store, c.Children() as children:

        async def starts() -> list[str]:
            client = Client(store)
            return [(await bench_flows.one_v1.start(client, i)).id for i in range(runs)]

        ids = asyncio.run(starts())
        args = aiki_cmd(store, "worker", "--until-idle", "--concurrency", str(concurrency))
        sessions = _sessions(url)
        cpu, machine = c.children_cpu(), c.machine_cpu()
        began = time.perf_counter()
        workers = [children.spawn(args) for _ in range(procs)]
        for worker in workers:
            children.wait(worker)
        wall = time.perf_counter() - began
        cpu = c.children_cpu() - cpu
        busy, idle = (now - then for now, then in zip(c.machine_cpu(), machine, strict=True))
        opened = _sessions(url) - sessions - 1  # less the one that counted first
        _all_completed(store, ids)
    per_run = 1e3 / runs
    where = (
        f"workers {cpu * per_run:.2f}, machine busy {busy * per_run:.2f}, idle {idle * per_run:.2f}"
    )
    return runs / wall, opened, where + " ms a run"


def _sessions(url: str) -> int:
    """Connections the server has accepted so far, to any database (ended ones counted
    when they end), read on a connection of its own."""
    with _admin(url) as conn:
        return int(conn.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()[0])


def _all_completed(store: str, ids: list[str]) -> None:
    opened = open_store(store)
    try:
        for run_id in ids:
            if opened.read_summary(run_id, tasks=False).status != RunStatus.COMPLETED:
                raise RuntimeError(f"run {run_id} did not complete")
    finally:
        opened.close()  # type: ignore[attr-defined]


def dbos_throughput(url: str, base: Path, runs: int, procs: int, concurrency: int) -> float:
    with dbos_database(url) as db, c.Children() as children, c.scratch(base, "dbos") as logs:
        opts = ["--db", db, "--concurrency", str(concurrency)]
        c.run_json([*c.DBOS_PEER, "enqueue", *opts, "--runs", str(runs)])
        wall = c.dbos_serve(children, opts, runs, procs, logs)
    return runs / wall


# -- 3. takeover --------------------------------------------------------------------------


def takeover(url: str, base: Path, kills: int) -> list[float]:
    """Seconds from each kill to the survivor's claim."""
    took = []
    with fresh_schema(url) as store, c.scratch(base, "pg-takeover") as folder:
        opened = open_store(store)
        try:
            for n in range(kills):
                took.append(_one_takeover(store, opened, folder / f"release-{n}"))
        finally:
            opened.close()  # type: ignore[attr-defined]
    return took


def _one_takeover(store: str, opened: Any, release: Path) -> float:
    async def start() -> str:
        run = await bench_flows.recovery_v1.start(
            Client(opened), {"k": 4, "hold_at": 2, "release": str(release)}
        )
        return run.id

    run_id = asyncio.run(start())
    with c.Children() as children:
        victim = children.spawn(aiki_cmd(store, "worker"))
        _wait(lambda: _holding(opened.read_run(run_id)[1]), "the run to reach its held task")
        survivor = children.spawn(aiki_cmd(store, "worker"))
        _wait(lambda: len(opened.live_workers()) == 2, "the second worker")
        killed = datetime.now(UTC)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        _wait(lambda: _recovered(opened.read_run(run_id)[1]) is not None, "the takeover")
        claimed = _recovered(opened.read_run(run_id)[1])
        release.touch()
        _wait(lambda: _completed(opened.read_run(run_id)[1]), "the run to complete")
        survivor.send_signal(signal.SIGTERM)
        children.wait(survivor, timeout=30)
    assert claimed is not None
    return (claimed - killed).total_seconds()


def _holding(entries: list[Entry]) -> bool:
    return any(isinstance(e, TaskStarted) and e.task == "hold" for e in entries)


def _recovered(entries: list[Entry]) -> datetime | None:
    return next((e.at for e in entries if isinstance(e, Recovered)), None)


def _completed(entries: list[Entry]) -> bool:
    last = [e for e in entries if isinstance(e, StatusChanged)]
    return bool(last) and last[-1].new == RunStatus.COMPLETED


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


# -- 4. scale -----------------------------------------------------------------------------


def scale(url: str, sizes: list[int], calls: int) -> dict[int, dict[str, float]]:
    """Median seconds of `client.get` and of claim+release with each number of stored
    runs, one schema each. The schemas are filled, vacuumed and checkpointed first (the
    server's work after a fill of 100,000 runs would land on whatever is measured next),
    then each call is timed on every schema in turn, so a change in the machine's load
    meanwhile falls on all sizes alike."""
    with contextlib.ExitStack() as stack:
        schemas = [stack.enter_context(fresh_schema(url)) for _ in sizes]
        clients = [Client(store) for store in schemas]
        for client in clients:
            stack.callback(client.store.close)  # type: ignore[attr-defined]
        runs = [fill(client, size) for client, size in zip(clients, sizes, strict=True)]
        ready = [client.create(bench_flows.one_v1, "ready").id for client in clients]
        _settle(url)
        loop = asyncio.new_event_loop()
        stack.callback(loop.close)

        def status(client: Client, ids: list[str]) -> None:
            info = loop.run_until_complete(client.get(random.choice(ids)))
            assert info.status == RunStatus.COMPLETED

        def claim(client: Client, run_id: str) -> None:
            held = client.store.claim(run_id)
            assert held is not None
            held.release()

        times: dict[int, dict[str, list[float]]] = {n: {"status": [], "claim": []} for n in sizes}
        for _ in range(calls):
            for size, client, ids, run_id in zip(sizes, clients, runs, ready, strict=True):
                times[size]["status"].append(c.timed(functools.partial(status, client, ids)))
                times[size]["claim"].append(c.timed(functools.partial(claim, client, run_id)))
    return {size: {op: c.median(t) for op, t in ops.items()} for size, ops in times.items()}


def _settle(url: str) -> None:
    """Leave the server nothing to catch up on from the fills: statistics, dead rows,
    dirty pages."""
    with _admin(url) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def fill(client: Client, size: int) -> list[str]:
    """`size` finished runs of `bench-one`: one executed, the rest its copies, their start
    records through `create_runs` in batches and their journal lines copied in."""

    async def one() -> str:
        run = await bench_flows.one_v1.start(client, 0)
        await Worker(client, [bench_flows.one]).run(until_idle=True)
        return run.id

    spec, entries = client.store.read_run(asyncio.run(one()))
    ids = []
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(0, size - 1, BATCH):
        count = min(BATCH, size - 1 - first)
        batch = [_copy(spec, epoch + timedelta(seconds=first + i)) for i in range(count)]
        client.store.create_runs(batch)
        _journal(client.store, batch, entries)
        ids += [run.id for run in batch]
    return ids


def _copy(spec: RunSpec, created: datetime) -> RunSpec:
    run_id = new_run_id(created, secrets.token_bytes(10))
    return spec.model_copy(update={"id": run_id, "created_at": created})


def _journal(store: Any, batch: list[RunSpec], entries: list[Entry]) -> None:
    lines = [dump_entry(entry).decode() for entry in entries]
    with store.connections.shared() as conn, conn.transaction():
        with conn.cursor().copy("COPY journal (run_id, seq, line) FROM STDIN") as copy:
            for run in batch:
                for seq, line in enumerate(lines):
                    copy.write_row((run.id, seq, line))
        conn.execute(
            "UPDATE runs SET ready = false, status = 'completed' WHERE id = ANY(%s)",
            ([run.id for run in batch],),
        )


# -- the report ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument("--url", help="a PostgreSQL server to use (default: a throwaway one)")
    options.add_argument("--runs", type=int, help="runs per throughput configuration (1000)")
    args = c.parse(options, argv)
    report = c.Report("bench_postgres", args)
    report.header()
    peer = c.peer_available(args, report)
    with server(args.url) as url:
        report.note(f"server: {url}")
        measure(report, args, url, peer)
    report.finish()


def measure(report: c.Report, args: Any, url: str, peer: bool) -> None:
    smoke = args.smoke
    ks, runs = (SMOKE_KS, 20) if smoke else (KS, args.runs or 1000)
    rows: list[dict[str, float]] = []
    for repeat in range(args.repeats):
        row = {f"steps.{k}": v for k, v in steps(url, ks, peer).items()}
        opened = []
        for procs, conc in SMOKE_CONFIGS if smoke else CONFIGS:
            row[f"aiki.p{procs}c{conc}"], connections, cpu = aiki_throughput(url, runs, procs, conc)
            opened.append(f"p{procs}c{conc} {connections}")
            report.note(f"CPU, p{procs}c{conc}, repeat {repeat + 1}: {cpu}")
        report.note(f"connections the workers opened, repeat {repeat + 1}: " + ", ".join(opened))
        for procs, conc in DBOS_CONFIGS if peer else []:
            row[f"dbos.p{procs}c{conc}"] = dbos_throughput(url, args.dir, runs, procs, conc)
        rows.append(row)
        report.note(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))
    _steps_results(report, rows, peer)
    _throughput_results(report, rows, peer)
    took = takeover(url, args.dir, SMOKE_KILLS if smoke else KILLS)
    report.note("takeovers (ms): " + ", ".join(f"{s * 1e3:.0f}" for s in took))
    report.result("postgres.takeover.median", c.median(took) * 1e3, "ms")
    report.result("postgres.takeover.max", max(took) * 1e3, "ms")
    _scale_results(report, SMOKE_SIZES if smoke else SIZES, SMOKE_CALLS if smoke else CALLS, url)


def _med(rows: list[dict[str, float]], name: str) -> float:
    return c.median([row[name] for row in rows])


def _steps_results(report: c.Report, rows: list[dict[str, float]], peer: bool) -> None:
    report.result("postgres.steps.aiki.per_step", _med(rows, "steps.aiki") * 1e6, "us")
    if not peer:
        return
    report.result("postgres.steps.dbos.per_step", _med(rows, "steps.dbos") * 1e6, "us")
    report.result(
        "postgres.steps.aiki_vs_dbos",
        _med(rows, "steps.aiki") * 1e6,
        "us",
        baseline=_med(rows, "steps.dbos") * 1e6,
        of="dbos_per_step",
        ratio=c.median([row["steps.aiki"] / row["steps.dbos"] for row in rows]),
        target=c.Target("<=", 1 / 3),
    )


def _throughput_results(report: c.Report, rows: list[dict[str, float]], peer: bool) -> None:
    configs = [name for name in rows[0] if name.startswith("aiki.p")]
    for name in configs:
        report.result(f"postgres.throughput.{name}", _med(rows, name), "runs/s")
    if not peer:
        return
    best = max(configs, key=lambda name: _med(rows, name))
    peers = [name for name in rows[0] if name.startswith("dbos.p")]
    for name in peers:
        report.result(f"postgres.throughput.{name}", _med(rows, name), "runs/s")
    peer_best = max(peers, key=lambda name: _med(rows, name))
    report.result(
        "postgres.throughput.aiki_vs_dbos",
        _med(rows, best),
        "runs/s",
        baseline=_med(rows, peer_best),
        of=f"{peer_best} (aiki: {best}), best against best",
        ratio=c.median([row[best] / row[peer_best] for row in rows]),
        target=c.Target(">=", 5),
    )


def _scale_results(report: c.Report, sizes: list[int], calls: int, url: str) -> None:
    small, large = sizes
    figures = scale(url, sizes, calls)
    for op in ("status", "claim"):
        report.result(f"postgres.scale.{op}.{small}", figures[small][op] * 1e6, "us")
        report.result(
            f"postgres.scale.{op}.{large}",
            figures[large][op] * 1e6,
            "us",
            baseline=figures[small][op] * 1e6,
            of=f"{op} at {small}",
            target=c.Target("<=", 1.5),
        )


if __name__ == "__main__":
    main()
