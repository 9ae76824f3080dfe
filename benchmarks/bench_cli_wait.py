"""Steps through the CLI: what one durable task call costs in `aiki start W --wait`, the
way a user runs a workflow in CI, against the disk's fsync'd-append limit measured in
the same run.

`aiki start bench-steps@1.0.0 --input-json '{"k":K}' --wait --json` is timed, a fresh
process each time, for K = 1 and K = 400 sequential no-op tasks; the per-step cost is
the slope between the two, paired process by process (the process's start-up and the
run's constant costs drop out). Coroutine tasks and plain-function tasks (the thread
pool) are measured apart.
Baseline, sampled between the runs: append a ~300-byte JSON line and `fdatasync` it.
The CPU time per step (user + system, of the `aiki` process) is reported beside: on a
shared machine whose disk slows down, it shows what aiki itself spends.

With `--against DIR` (another checkout of aiki, e.g. an export of `main`), the same
processes of that checkout are timed beside this one's, pair by pair in turn (this one
first, then that one first), and the per-step figures are also given as this checkout's
over that one's, the median of the per-pair ratios (of wall time, and of the processes'
CPU time): on a machine shared with other work, both meet the same spells of it, which
runs made one after the other do not.

    python benchmarks/bench_cli_wait.py            # K = 1 and 400, 3 repeats
    python benchmarks/bench_cli_wait.py --smoke    # seconds; what CI runs
    python benchmarks/bench_cli_wait.py --against /tmp/main-export
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import _common as c

KS = (1, 400)
SMOKE_KS = (1, 10)
SAMPLES = 30  # fsync'd appends sampled before each timed run
PAIRS = 5  # pairs of timed processes (K small, K large) per kind in a repeat
TARGETS = {"async": 2.0, "sync": 2.5}


def start_wait(store: Path, k: int, sync: bool, home: Path | None = None) -> tuple[float, float]:
    """Seconds of one `aiki start … --wait --json` of k no-op tasks, process included:
    the wall time, and the CPU time (user + system) the process used. With `home`, the
    aiki of that checkout runs (it comes first on the path, and is the directory run in)."""
    data = json.dumps({"k": k, "sync": sync})
    args = c.aiki(store, "start", "bench-steps@1.0.0", "--input-json", data, "--wait", "--json")
    env = c.child_env() if home is None else dict(c.child_env(), PYTHONPATH=str(home))
    used = c.children_cpu()
    begin = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=home, capture_output=True, timeout=600)
    seconds = time.perf_counter() - begin
    if done.returncode != 0 or json.loads(done.stdout)["result"] != k:
        raise SystemExit(f"aiki start --wait failed: {done.stderr.decode()}")
    return seconds, c.children_cpu() - used


def per_step(
    base: Path, ks: tuple[int, int], sync: bool, probe: c.AppendProbe, pairs: int
) -> tuple[float, float]:
    """The per-step slope of wall and CPU time, each the median over `pairs` pairs of
    processes run back to back (ks[0] tasks, then ks[1]), so that each pair meets the
    same spell of the machine."""
    walls, cpus = [], []
    with c.scratch(base, "cli-wait") as store:
        start_wait(store, 1, sync)  # warm up: compiled modules, the store's layout
        for _ in range(pairs):
            probe.sample(SAMPLES)
            (wall_few, cpu_few), (wall_many, cpu_many) = (start_wait(store, k, sync) for k in ks)
            walls.append((wall_many - wall_few) / (ks[1] - ks[0]))
            cpus.append((cpu_many - cpu_few) / (ks[1] - ks[0]))
    return c.median(walls), c.median(cpus)


def per_step_against(
    base: Path, ks: tuple[int, int], sync: bool, probe: c.AppendProbe, pairs: int, other: Path
) -> tuple[float, float, float, float]:
    """The per-step slope of this checkout's processes and of `other`'s, measured pair by
    pair in turn, each the median over `pairs`, and the median of their per-pair ratios;
    last, the median of the per-pair ratios of their CPU time per step."""
    ours, theirs, ratios, cpu_ratios = [], [], [], []
    with c.scratch(base, "cli-wait") as store, c.scratch(base, "cli-wait-other") as elsewhere:
        start_wait(store, 1, sync)
        start_wait(elsewhere, 1, sync, other)
        for pair in range(pairs):
            probe.sample(SAMPLES)
            sides = [(store, None), (elsewhere, other)]
            slopes, cpus = {}, {}
            for folder, home in sides if pair % 2 == 0 else reversed(sides):
                (few, cpu_few), (many, cpu_many) = (start_wait(folder, k, sync, home) for k in ks)
                slopes[home] = (many - few) / (ks[1] - ks[0])
                cpus[home] = (cpu_many - cpu_few) / (ks[1] - ks[0])
            ours.append(slopes[None])
            theirs.append(slopes[other])
            ratios.append(slopes[None] / slopes[other])
            cpu_ratios.append(cpus[None] / cpus[other])
    return c.median(ours), c.median(theirs), c.median(ratios), c.median(cpu_ratios)


def one_repeat(
    base: Path, ks: tuple[int, int], pairs: int, other: Path | None = None
) -> dict[str, float]:
    probe = c.AppendProbe(base)
    row = {}
    try:
        for kind in TARGETS:
            sync = kind == "sync"
            if other is None:
                row[kind], row[f"{kind}_cpu"] = per_step(base, ks, sync, probe, pairs)
            else:
                (
                    row[kind],
                    row[f"{kind}_against"],
                    row[f"{kind}_vs"],
                    row[f"{kind}_cpu_vs"],
                ) = per_step_against(base, ks, sync, probe, pairs, other)
        row["fdatasync"] = probe.median()
    finally:
        probe.close()
    return row


def main(argv: list[str] | None = None) -> None:
    options = c.parser(__doc__.split("\n\n")[0])
    options.add_argument(
        "--against", type=Path, help="another checkout of aiki, timed pair by pair beside this"
    )
    args = c.parse(options, argv)
    report = c.Report("bench_cli_wait", args)
    report.header()
    if args.against is None:
        report_steps(report, args)
    else:
        report_against(report, args, args.against.resolve())
    report.finish()


def report_against(report: c.Report, args: Any, other: Path) -> None:
    """The per-step figures of this checkout and of `other`, measured pair by pair."""
    ks = SMOKE_KS if args.smoke else KS
    pairs = 1 if args.smoke else PAIRS
    report.note(f"steps: K = {ks}; this checkout and {other}, pair by pair, {pairs} pairs")
    rows = []
    for repeat in range(args.repeats):
        rows.append(one_repeat(args.dir, ks, pairs, other))
        shown = ", ".join(
            f"{name} {value:.2f}x" if name.endswith("_vs") else f"{name} {value * 1e6:.1f} us"
            for name, value in rows[-1].items()
        )
        report.note(f"steps, repeat {repeat + 1}: {shown}")
    limit = c.median([row["fdatasync"] for row in rows]) * 1e6
    report.result("cli_wait.fsync_append", limit, "us")
    for kind, bound in TARGETS.items():
        for side, name in ((kind, "per_step"), (f"{kind}_against", "against.per_step")):
            report.result(
                f"cli_wait.{kind}.{name}",
                c.median([row[side] for row in rows]) * 1e6,
                "us",
                baseline=limit,
                of="fsync_append",
                ratio=c.median([row[side] / row["fdatasync"] for row in rows]),
                target=c.Target("<=", bound),
            )
        report.result(f"cli_wait.{kind}.vs_against", c.median([r[f"{kind}_vs"] for r in rows]), "x")
        cpu_vs = c.median([r[f"{kind}_cpu_vs"] for r in rows])
        report.result(f"cli_wait.{kind}.cpu_vs_against", cpu_vs, "x")


def report_steps(report: c.Report, args: Any) -> None:
    """Measure and report the per-step figures (`bench_cli.py` runs this too)."""
    ks = SMOKE_KS if args.smoke else KS
    pairs = 1 if args.smoke else PAIRS
    report.note(f"steps: K = {ks}; no-op tasks; `aiki start --wait --json`, {pairs} pairs")
    rows = []
    for repeat in range(args.repeats):
        rows.append(one_repeat(args.dir, ks, pairs))
        shown = ", ".join(f"{name} {value * 1e6:.1f} us" for name, value in rows[-1].items())
        report.note(f"steps, repeat {repeat + 1}: {shown}")
    limit = c.median([row["fdatasync"] for row in rows]) * 1e6
    report.result("cli_wait.fsync_append", limit, "us")
    for kind, bound in TARGETS.items():
        report.result(
            f"cli_wait.{kind}.per_step",
            c.median([row[kind] for row in rows]) * 1e6,
            "us",
            baseline=limit,
            of="fsync_append",
            ratio=c.median([row[kind] / row["fdatasync"] for row in rows]),
            target=c.Target("<=", bound),
        )
        report.result(
            f"cli_wait.{kind}.cpu_per_step",
            c.median([row[f"{kind}_cpu"] for row in rows]) * 1e6,
            "us",
        )


if __name__ == "__main__":
    main()
