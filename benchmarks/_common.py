"""What the benchmark scripts share: options, timing maths, the fsync'd-append limit of a
disk, result lines with their baselines, the machine's description and child processes.

Every figure a script prints is a `result` line: the value, and beside it the baseline
it is measured against *in the same run* (the machine is shared and noisy, so absolute
times from different runs do not compare):

    result steps.aiki.per_step 612.3 us | 3.21x fsync_append (190.7 us) | target <= 2x: missed
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORKFLOWS = BENCH_DIR / "workflows"
REPO = BENCH_DIR.parent

# The scripts import the benchmark workflows the way `aiki worker` loads them.
if str(WORKFLOWS) not in sys.path:
    sys.path.insert(0, str(WORKFLOWS))


# -- options ----------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    """The options every script takes; a script adds its own."""
    options = argparse.ArgumentParser(description=description)
    options.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, one repeat, no peer: checks that the script works (CI)",
    )
    options.add_argument("--repeats", type=int, default=3, help="repeats (medians are reported)")
    options.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the temporary stores go (the disk measured); default: the temp dir",
    )
    options.add_argument("--no-peer", action="store_true", help="skip DBOS even if installed")
    options.add_argument("--json", type=Path, help="also write every result to this file")
    return options


def parse(options: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> Any:
    args = options.parse_args(argv)
    if args.smoke:
        args.repeats = 1
        args.no_peer = True
    args.dir.mkdir(parents=True, exist_ok=True)
    return args


# -- timing -----------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of ys over xs: the cost of one more unit of x."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def timed(fn: Callable[[], Any]) -> float:
    """Seconds `fn()` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def children_cpu() -> float:
    """CPU seconds, user and system, of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[float, float]:
    """Seconds all CPUs have been busy, and idle (iowait included), since boot."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = (ticks[3] + ticks[4]) / hz
    return sum(ticks) / hz - idle, idle


# A journal line of the size of aiki's task entries (they run 150 to 300 bytes).
JOURNAL_LINE = (
    json.dumps(
        {
            "type": "task_completed",
            "at": "2026-01-01T00:00:00.000000Z",
            "task": "process-payment",
            "hash": "0" * 64,
            "output": {"success": True, "transaction_id": "tx-" + "7" * 100},
            "attempt": 1,
        },
        separators=(",", ":"),
    )
    + "\n"
).encode()


class AppendProbe:
    """Appends ~300-byte JSON lines to a file in `directory`, each made durable by
    `fdatasync` (as aiki's journal does for each result) or `fsync`, and times them:
    the physical limit of a journal on this disk.

    Taking samples between the measurements it is the baseline of keeps both in the
    same spell of a shared machine's disk."""

    def __init__(self, directory: Path, sync: str = "fdatasync") -> None:
        self._sync = getattr(os, sync)
        self._path = directory / f".fsync-limit-{os.getpid()}-{sync}.jsonl"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self._path, flags, 0o600)
        self.times: list[float] = []
        self.sample(10)  # the file's first blocks and metadata
        self.times.clear()

    def sample(self, count: int) -> None:
        for _ in range(count):
            start = time.perf_counter()
            os.write(self._fd, JOURNAL_LINE)
            self._sync(self._fd)
            self.times.append(time.perf_counter() - start)

    def median(self) -> float:
        return median(self.times)

    def close(self) -> None:
        os.close(self._fd)
        self._path.unlink(missing_ok=True)


def fsync_append_limit(directory: Path, count: int = 200, *, sync: str = "fdatasync") -> float:
    """The median seconds of `count` fsync'd appends (see `AppendProbe`)."""
    probe = AppendProbe(directory, sync)
    try:
        probe.sample(count)
        return probe.median()
    finally:
        probe.close()


@contextlib.contextmanager
def no_fsync() -> Iterator[None]:
    """fsync and fdatasync do nothing meanwhile: what is left of a step is CPU and write()."""
    saved = os.fsync, os.fdatasync
    os.fsync = os.fdatasync = lambda fd: None  # type: ignore[assignment]
    try:
        yield
    finally:
        os.fsync, os.fdatasync = saved


@contextlib.contextmanager
def counting_syscalls() -> Iterator[dict[str, int]]:
    """Count the calls of os.fsync, os.fdatasync, os.write and os.open meanwhile."""
    counts = {"fsync": 0, "fdatasync": 0, "write": 0, "open": 0}
    saved = {name: getattr(os, name) for name in counts}

    def counter(name: str) -> Callable[..., Any]:
        real = saved[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return real(*args, **kwargs)

        return call

    for name in counts:
        setattr(os, name, counter(name))
    try:
        yield counts
    finally:
        for name, real in saved.items():
            setattr(os, name, real)


# -- results ----------------------------------------------------------------------------


@dataclass
class Target:
    """`value / baseline` must be `<=` (or `>=`) `bound`."""

    op: str
    bound: float

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.op == "<=" else ratio >= self.bound

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}x"


@dataclass
class Report:
    script: str
    args: Any
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def header(self) -> None:
        for key, value in machine(self.args.dir).items():
            print(f"# {key}: {value}")
        print(f"# repeats: {self.args.repeats}{' (smoke)' if self.args.smoke else ''}")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        print(f"# {text}", flush=True)

    def result(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        baseline: float | None = None,
        of: str | None = None,
        ratio: float | None = None,
        target: Target | None = None,
    ) -> None:
        """Print one figure; with a baseline, the ratio (given, e.g. a median of per-repeat
        ratios, or value/baseline) and whether the target is met."""
        line = f"result {name} {_fmt(value)} {unit}"
        entry: dict[str, Any] = {"value": value, "unit": unit}
        if baseline is not None:
            ratio = value / baseline if ratio is None else ratio
            line += f" | {_fmt(ratio)}x {of} ({_fmt(baseline)} {unit})"
            entry.update(baseline=baseline, of=of, ratio=ratio)
            if target is not None:
                verdict = "met" if target.met(ratio) else "missed"
                line += f" | target {target}: {verdict}"
                entry.update(target=str(target), met=target.met(ratio))
        print(line, flush=True)
        self.results[name] = entry

    def finish(self) -> None:
        seconds = time.perf_counter() - self.started
        self.note(f"{self.script} finished in {seconds:.1f}s; load {load()}")
        if self.args.json is not None:
            self.args.json.write_text(
                json.dumps({"machine": machine(self.args.dir), "results": self.results}, indent=2)
            )


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# -- the machine ------------------------------------------------------------------------


def machine(directory: Path) -> dict[str, str]:
    """What the figures were measured on."""
    import aiki_cli

    return {
        "cpu": f"{os.cpu_count()} x {_cpu_model()}",
        "disk": _disk(directory),
        "python": platform.python_version(),
        "aiki_cli": _aiki_source(Path(aiki_cli.__file__).parent),
        "dbos": _dbos_version() or "not installed",
        "load": load(),
    }


def load() -> str:
    """The load averages (1, 5, 15 min): how busy the shared machine was."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _disk(directory: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = (
            subprocess.run(
                ["df", "-T", "-h", str(directory)], capture_output=True, text=True, check=True
            )
            .stdout.splitlines()[-1]
            .split()
        )
        device, fstype, size = out[0], out[1], out[2]
        return f"{directory} on {device} ({fstype}, {size})"
    return str(directory)


def _aiki_source(package: Path) -> str:
    """Where the measured aiki_cli comes from: this checkout (its commit), or elsewhere."""
    if package.resolve() != (REPO / "aiki_cli").resolve():
        return f"{package} (not this checkout)"
    return f"{package} ({_git_state()})"


def _git_state() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "aiki_cli"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f"repo at {rev}{', aiki_cli/ modified' if dirty else ''}"
    return "no git"


def _dbos_version() -> str | None:
    if importlib.util.find_spec("dbos") is None:
        return None
    from importlib.metadata import version

    return version("dbos")


def peer_available(args: Any, report: Report) -> bool:
    """Whether to run DBOS beside aiki; says why not when it will not."""
    if args.no_peer:
        report.note("peer: DBOS skipped (--no-peer or --smoke)")
        return False
    if _dbos_version() is None:
        report.note("peer: DBOS is not installed (pip install -e '.[bench]'); skipping it")
        return False
    return True


# -- stores and processes ---------------------------------------------------------------


@contextlib.contextmanager
def scratch(base: Path, name: str) -> Iterator[Path]:
    """A fresh directory under `base`, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"aiki-bench-{name}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def aiki(runs_dir: Path, *args: str) -> list[str]:
    """The command line of `aiki` on `runs_dir` with the benchmark workflows."""
    return [
        sys.executable,
        "-m",
        "aiki_cli",
        "--runs-dir",
        str(runs_dir),
        "--workflows-dir",
        str(WORKFLOWS),
        *args,
    ]


def child_env() -> dict[str, str]:
    import aiki_cli

    # The children import the very aiki_cli this process measures (a checkout given by
    # PYTHONPATH, or the installed one).
    home = str(Path(aiki_cli.__file__).resolve().parents[1])
    paths = [home, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = dict(os.environ, NO_COLOR="1", PYTHONPATH=os.pathsep.join(paths))
    # As a user's machine runs them: with compiled modules cached. (Some sandboxes set
    # this, making every process recompile the modules it imports: ~0.1 s a start.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Children:
    """Child processes; whatever is still running when the block ends is killed."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc: object) -> None:
        for child in self.started:
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
        for child in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
                child.wait(timeout=10)

    def spawn(self, args: list[str], *, log: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            child = subprocess.Popen(
                args, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        finally:
            if log is not None:
                out.close()  # type: ignore[union-attr]
        self.started.append(child)
        return child

    def wait(self, child: subprocess.Popen[bytes], timeout: float = 600) -> int:
        code = wait_exactly(child, timeout)
        if code != 0:
            raise RuntimeError(f"{' '.join(map(str, child.args))} exited {code}")  # type: ignore[arg-type]
        return code


def wait_exactly(child: subprocess.Popen[bytes], timeout: float) -> int:
    """Wait for `child` and return its exit code, waking the moment it exits.

    `Popen.wait(timeout)` polls with sleeps of up to 50 ms, which would add up to 50 ms
    to a timing that ends with the wait; a pidfd becomes readable at the exit itself.
    """
    if child.returncode is not None:  # reaped already: its pid may be another process's now
        return child.returncode
    try:
        pidfd = os.pidfd_open(child.pid)
    except (AttributeError, OSError):  # not Linux
        return child.wait(timeout=timeout)
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(child.args, timeout)
    finally:
        os.close(pidfd)
    return child.wait()


# Spawns its arguments and prints the child's peak RSS (KiB). Linux keeps, across exec,
# the memory high-water mark of the address space a process was spawned from; spawned
# straight from a benchmark script (tens of MiB after building a store) a worker would
# report the script's peak. Spawned from this small launcher, it reports its own.
_LAUNCHER = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print('maxrss', usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def peak_rss(args: list[str], timeout: float = 600) -> int:
    """Run `args` (which must exit 0); its peak resident memory, in KiB."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *args],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return int(done.stdout.split("maxrss")[-1])


def run_json(args: list[str], timeout: float = 900) -> Any:
    """Run a helper process that prints one JSON document as its last line."""
    done = subprocess.run(args, env=child_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:4]} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


DBOS_PEER = [sys.executable, str(BENCH_DIR / "_dbos_peer.py")]


def dbos_serve(children: Children, opts: list[str], runs: int, procs: int, logs: Path) -> float:
    """Seconds for `procs` DBOS processes (`_dbos_peer.py serve`) to execute the `runs`
    workflows enqueued on `opts`'s database, spawn to last exit; raises unless all
    completed."""
    began = time.perf_counter()
    servers = [
        children.spawn([*DBOS_PEER, "serve", *opts, "--executor", f"w{n}"], log=logs / f"{n}.log")
        for n in range(procs)
    ]
    for server in servers:
        children.wait(server)
    wall = time.perf_counter() - began
    done = (logs / f"{procs - 1}.log").read_text().strip().splitlines()[-1]
    if f'"completed": {runs}' not in done:
        raise RuntimeError(f"DBOS did not complete the {runs} workflows: {done}")
    return wall
