"""The command line where users meet it (issue 19): what a command costs to start, and
how fast runs can be started, each against its baseline measured in the same run.

1. start-up: `aiki status ID --json`, `aiki status ID`, `aiki list --json --limit 20` and
   `aiki --help`, each as a whole process, paired run by run with the bare interpreter
   (`python -c pass`, the same one): the ratio is the median of the pairs' ratios.
   Target: each <= 5x.
2. start rate: 1,000 one-task runs started in-process through the client, one
   `Client.start` each and one `Client.start_many`, and through the executable
   (`aiki start NAME@VERSION --inputs FILE.jsonl`, process start-up included), against
   DBOS enqueueing 1,000 workflows on its queue (`_dbos_peer.py enqueue`, its launch
   untimed). Target: >= 2x DBOS's rate.
3. steps through `aiki start --wait` (`bench_cli_wait.py`, which also runs alone): the
   per-step cost, coroutine and plain-function tasks, against the fsync'd append.
   Targets: <= 2x and <= 2.5x.

    python benchmarks/bench_cli.py           # full (~2 min with DBOS)
    python benchmarks/bench_cli.py --smoke   # tiny sizes, no DBOS
    python benchmarks/bench_cli.py --startup-only   # part 1 alone (~1 min)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import _common as c
import bench_cli_wait
import bench_flows

from aiki_cli import Client

COMMANDS = {
    "status_json": ["status", "{id}", "--json"],
    "status": ["status", "{id}"],
    "list_json": ["list", "--json", "--limit", "20"],
    "help": ["--help"],
}
PAIRS, SMOKE_PAIRS = 15, 2
RUNS, SMOKE_RUNS = 1000, 20
STARTUP_TARGET = c.Target("<=", 5)
RATE_TARGET = c.Target(">=", 2)
REF = "bench-one@1.0.0"


def aiki_command(store: Path, *args: str) -> list[str]:
    """The `aiki` console script beside this interpreter (what users run), else `-m`."""
    script = Path(sys.executable).with_name("aiki")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "aiki_cli"]
    return [*head, "--runs-dir", str(store), "--workflows-dir", str(c.WORKFLOWS), *args]


def wall(args: list[str], stdin: bytes = b"") -> float:
    """Seconds from starting the process `args` to its exit; it must succeed."""
    began = time.perf_counter()
    subprocess.run(
        args, input=stdin, env=c.child_env(), capture_output=True, check=True, timeout=600
    )
    return time.perf_counter() - began


Pair = tuple[float, float]  # a command's wall seconds, then the bare interpreter's


def startup_pairs(store: Path, run_id: str, pairs: int) -> dict[str, list[Pair]]:
    """Per command, its wall times each beside the bare interpreter's just after."""
    bare = [sys.executable, "-c", "pass"]
    commands = {
        name: aiki_command(store, *(a.format(id=run_id) for a in args))
        for name, args in COMMANDS.items()
    }
    for args in commands.values():
        wall(args)  # compiles and caches what it imports, as an installed aiki has
    times: dict[str, list[Pair]] = defaultdict(list)
    for _ in range(pairs):
        for name, args in commands.items():
            times[name].append((wall(args), wall(bare)))
    return times


def startup(base: Path, pairs: int) -> dict[str, list[Pair]]:
    with c.scratch(base, "cli-startup") as store:
        client = Client(store)
        ids = [asyncio.run(bench_flows.one_v1.start(client, n)).id for n in range(30)]
        subprocess.run(
            aiki_command(store, "worker", "--until-idle"),
            env=c.child_env(),
            capture_output=True,
            check=True,
        )
        return startup_pairs(store, ids[0], pairs)


def rate_single(base: Path, runs: int) -> float:
    """Runs/s of `runs` starts, one `Client.start` each."""
    with c.scratch(base, "cli-single") as store:
        client = Client(store)

        async def starts() -> None:
            for n in range(runs):
                await bench_flows.one_v1.start(client, n)

        return runs / c.timed(lambda: asyncio.run(starts()))


def rate_many(base: Path, runs: int) -> float:
    """Runs/s of one `Client.start_many` of `runs` runs."""
    with c.scratch(base, "cli-many") as store:
        client = Client(store)
        inputs = list(range(runs))
        return runs / c.timed(lambda: asyncio.run(client.start_many(bench_flows.one_v1, inputs)))


def rate_cli(base: Path, runs: int) -> float:
    """Runs/s of `aiki start --inputs -` with `runs` lines, the whole process."""
    with c.scratch(base, "cli-inputs") as store:
        lines = "".join(f"{n}\n" for n in range(runs)).encode()
        return runs / wall(aiki_command(store, "start", REF, "--inputs", "-"), lines)


def rate_dbos(base: Path, runs: int) -> float:
    peer = [sys.executable, str(c.BENCH_DIR / "_dbos_peer.py")]
    with c.scratch(base, "cli-dbos") as folder:
        db = ["--db", str(folder / "dbos.sqlite"), "--concurrency", "10"]
        return runs / c.run_json([*peer, "enqueue", *db, "--runs", str(runs)])["seconds"]


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument(
        "--startup-only", action="store_true", help="measure the start-up of commands alone"
    )
    args = c.parse(options, argv)
    pairs, runs = (SMOKE_PAIRS, SMOKE_RUNS) if args.smoke else (PAIRS, RUNS)
    report = c.Report("bench_cli", args)
    report.header()
    report.note(f"start-up: {pairs} pairs a repeat; start rate: {runs} runs")
    peer = c.peer_available(args, report)
    times: dict[str, list[Pair]] = defaultdict(list)
    rates: dict[str, list[float]] = defaultdict(list)
    for repeat in range(args.repeats):
        for name, row in startup(args.dir, pairs).items():
            times[name] += row
        if args.startup_only:
            continue
        rates["single"].append(rate_single(args.dir, runs))
        rates["many"].append(rate_many(args.dir, runs))
        rates["cli_inputs"].append(rate_cli(args.dir, runs))
        if peer:
            rates["dbos"].append(rate_dbos(args.dir, runs))
        shown = ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items())
        report.note(f"repeat {repeat + 1}: runs/s {shown}")
    for name in COMMANDS:
        report.result(
            f"cli.startup.{name}",
            c.median([command for command, _ in times[name]]),
            "s",
            baseline=c.median([bare for _, bare in times[name]]),
            of="python -c pass",
            ratio=c.median([command / bare for command, bare in times[name]]),
            target=STARTUP_TARGET,
        )
    if not args.startup_only:
        for name in ("single", "many", "cli_inputs"):
            summarize_rate(report, name, rates)
        bench_cli_wait.report_steps(report, args)
    report.finish()


def summarize_rate(report: c.Report, name: str, rates: dict[str, list[float]]) -> None:
    value = c.median(rates[name])
    if not rates["dbos"]:
        report.result(f"cli.start_rate.{name}", value, "runs/s")
        return
    per_repeat = [a / b for a, b in zip(rates[name], rates["dbos"], strict=True)]
    report.result(
        f"cli.start_rate.{name}",
        value,
        "runs/s",
        baseline=c.median(rates["dbos"]),
        of="DBOS enqueue",
        ratio=c.median(per_repeat),
        target=RATE_TARGET,
    )


if __name__ == "__main__":
    main()
