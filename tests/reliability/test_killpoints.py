"""The kill-point sweep: every store operation a client or a worker performs, killed with
SIGKILL at each of its system calls in turn, must leave a store that heals.

For each operation a store is prepared once (the runs it acts on, parked where the
operation finds them); then for N = 1, 2, … a copy of it gets the command killed at its
N-th system call (`killpoint.py` counts them), until the command ends without reaching N.
After each kill:

- **by itself**: `aiki worker --until-idle` runs on the store, and the outcome must be
  one the operation allows: it landed whole (the child cancelled *and* its parent told),
  or not at all (nothing half done, nothing stranded);
- **on repeat** (on a second copy, for client commands): the command is run again, then
  the worker; the operation must have landed, however the first try died;
- **nothing twice**: no task call whose result the journal held at the kill executes
  again, and no call executes more often than the workflow's story allows;
- **doctor tells the truth**: healthy once healed, and right after the kill it calls
  damage only what a worker would not heal by itself (for the operations this sweep was
  written for, nothing).

The figures (kill points, how many landed by themselves, how many needed the repeat,
doctor's verdicts) are printed with `-s`; `AIKI_KP_STRIDE=K` tries the repeat path at
every K-th kill point (default 3; 1 for all), `AIKI_KP_ONLY=op,…` runs only those, and
`AIKI_KP_EVERY_CALL=1` kills at every system call, not only at those that change a file
(the states are the same; there are twice as many points).
`python -m tests.reliability.test_killpoints` runs the whole sweep by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import Client, Worker
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.model.entry import EventReceived, TaskCompleted
from aiki_cli.model.journal import summarize
from aiki_cli.model.status import RunStatus
from aiki_cli.store import RunRef
from aiki_cli.store.files import FileStore
from aiki_cli.store.files.doctor import examine

from .killpoint import KILLED, fork_aiki

FLOWS = Path(__file__).parent / "killpoint_workflows"
PROBE = "AIKI_KP_PROBE"
WORKER = ["worker", "--until-idle", "--poll-interval", "0.01"]
S = RunStatus


class Store:
    """A store directory the sweep reads: statuses, executions, timers."""

    def __init__(self, root: Path, allowance: int = 1) -> None:
        self.root = root
        self.allowance = allowance  # executions a call may have: 2 when a worker is killed
        self.runs = root / "runs"
        self.probe = root / "executions"
        self.files = FileStore(self.runs)

    def status(self, run_id: str) -> RunStatus:
        return summarize(*self.files.read_run(run_id)).status

    def run_ids(self, workflow: str) -> list[str]:
        return [ref.id for ref in self._runs() if ref.workflow == workflow]

    def _runs(self) -> list[RunRef]:
        """The runs listed, less those whose start was killed before its run was moved
        into run/: its line in created.log names no run, and every reader passes it over."""
        return [ref for ref in self.files.list_runs() if (self.runs / "run" / ref.id).is_dir()]

    def executions(self) -> Counter[str]:
        lines = self.probe.read_text().splitlines() if self.probe.exists() else []
        return Counter(lines)

    def completed_calls(self) -> set[str]:
        """ "<key> <call>" of every task result the journals hold."""
        calls = set()
        for ref in self._runs():
            for entry in self.files.read_run(ref.id)[1]:
                if isinstance(entry, TaskCompleted) and isinstance(entry.output, dict):
                    calls.add(f"{entry.output['key']} {entry.output['call']}")
        return calls

    def events(self, run_id: str) -> int:
        return sum(isinstance(e, EventReceived) for e in self.files.read_run(run_id)[1])

    def timers(self, kind: str, target: str) -> list[str]:
        folder = self.runs / "timers"
        names = os.listdir(folder) if folder.is_dir() else []
        return [name for name in names if name.endswith(f"-{kind}-{target}")]

    def queued(self, run_id: str) -> bool:
        return self.files.is_ready(run_id)

    def aiki(
        self, args: list[str], kill_at: int | None = None
    ) -> tuple[int, dict[str, int] | None]:
        full = ["--runs-dir", str(self.runs), "--workflows-dir", str(FLOWS), *args]
        log = self.root / f"aiki-{len(list(self.root.glob('aiki-*.log')))}.log"
        return fork_aiki(full, kill_at, cwd=self.root, env={PROBE: str(self.probe)}, log=log)

    def heal(self) -> None:
        code, _ = self.aiki(WORKER)
        assert code == 0, f"the worker exited {code}"

    def copy(self, to: Path, allowance: int = 1) -> Store:
        shutil.copytree(self.root, to, symlinks=True)
        return Store(to, allowance)

    def fingerprint(self) -> frozenset[tuple[str, int, int]]:
        """Every path of the store with its size and modification time."""
        found: set[tuple[str, int, int]] = set()
        for folder, dirs, files in os.walk(self.runs):
            for name in dirs + files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                found.add((os.path.relpath(path, self.runs), info.st_size, info.st_mtime_ns))
        return frozenset(found)


@dataclass
class Op:
    """A store operation: how its store is prepared, the command, and the outcomes allowed.

    `outcome(store, ids)` returns True when the operation landed and False when it did not
    happen at all, and fails on anything else; `repeat` says whether the command can be
    repeated (a client command) and the exit codes a repeat may give.
    """

    name: str
    prepare: Callable[[Store], dict[str, str]]
    command: Callable[[dict[str, str]], list[str]]
    outcome: Callable[[Store, dict[str, str]], bool]
    repeat: tuple[int, ...] = (0,)
    doctor_exact: bool = True  # doctor must call nothing damage right after a kill


@dataclass
class Figures:
    op: str
    points: int = 0
    calls: int = 0  # system calls of the command, changes (the kill points) or not
    untouched: int = 0
    by_itself: int = 0
    not_landed: int = 0
    repeated: int = 0
    doctor_alarms: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.op}: {self.points} kill points of {self.calls} calls "
            f"({self.untouched} left the files as prepared), "
            f"{self.by_itself} landed by themselves, {self.not_landed} not at all (then "
            f"{self.repeated} repeats tried), doctor alarmed at {self.doctor_alarms}, "
            f"{len(self.failures)} failures"
        )


# -- preparing stores ----------------------------------------------------------------------


def drain(store: Store) -> None:
    versions = load_workflows(FLOWS).values()
    worker = Worker(Client(store.runs), versions, poll_interval=0.01)
    asyncio.run(worker.run(until_idle=True))


def started(store: Store, ref: str, input: dict[str, Any]) -> str:
    version = load_workflows(FLOWS)[ref]
    return Client(store.runs).create(version, input).id


def family(store: Store, ref: str, key: str) -> dict[str, str]:
    run_id = started(store, ref, {"key": key})
    drain(store)
    spec, entries = store.files.read_run(run_id)
    children = summarize(spec, entries).children
    return {"run": run_id, **{f"child{n}": child for n, child in enumerate(children)}}


def prepare_parked_child(store: Store) -> dict[str, str]:
    ids = family(store, "kp-parent@1.0.0", "pc")
    assert store.status(ids["run"]) == S.AWAITING_CHILD
    assert store.status(ids["child0"]) == S.SLEEPING
    return ids


def prepare_family(store: Store) -> dict[str, str]:
    ids = family(store, "kp-family@1.0.0", "fam")
    assert [store.status(run) for run in ids.values()] == [S.AWAITING_CHILD, *[S.SLEEPING] * 2]
    return ids


def prepare_cancel_requested(store: Store) -> dict[str, str]:
    ids = prepare_family(store)
    store.files.request(ids["run"], "cancel")  # what `aiki cancel` leaves a busy worker
    return ids


def prepare_napper(store: Store) -> dict[str, str]:
    run_id = started(store, "kp-napper@1.0.0", {"key": "nap"})
    drain(store)
    assert store.status(run_id) == S.SLEEPING
    return {"run": run_id}


def prepare_paused(store: Store) -> dict[str, str]:
    ids = prepare_napper(store)
    asyncio.run(Client(store.runs).pause(ids["run"]))
    assert store.status(ids["run"]) == S.PAUSED
    return ids


def prepare_pause_requested(store: Store) -> dict[str, str]:
    run_id = started(store, "kp-napper@1.0.0", {"key": "nap"})
    store.files.request(run_id, "pause")  # a worker finds it before the run ever ran
    return {"run": run_id}


def prepare_failed(store: Store) -> dict[str, str]:
    fixed = store.root / "fixed"
    run_id = started(store, "kp-flaky@1.0.0", {"key": "flaky", "fixed": str(fixed)})
    drain(store)
    assert store.status(run_id) == S.FAILED
    fixed.touch()  # the code fix that `aiki retry` is for
    return {"run": run_id}


def prepare_waiter(store: Store) -> dict[str, str]:
    run_id = started(store, "kp-waiter@1.0.0", {"key": "wait"})
    drain(store)
    assert store.status(run_id) == S.AWAITING_EVENT
    return {"run": run_id}


def prepare_nothing(store: Store) -> dict[str, str]:
    store.runs.mkdir()
    return {}


def prepare_due_schedule(store: Store) -> dict[str, str]:
    code, _ = store.aiki(ADD_SCHEDULE)
    assert code == 0
    schedule = store.files.schedule("kp-s")
    assert schedule is not None
    due = datetime.now(UTC) - timedelta(seconds=1)
    store.files.save_schedule(schedule.model_copy(update={"next_due": due}))
    return {"schedule": "kp-s"}


ADD_SCHEDULE = ["schedule", "add", "kp-quick@1.0.0", "--id", "kp-s", "--every", "1h"]
ADD_SCHEDULE += ["--input-json", '{"key": "sched"}']


# -- what each operation may end as -------------------------------------------------------


def once_each(store: Store) -> None:
    """No task call executed twice (kp-flaky's failing call: once per attempt), unless the
    worker killed had executed it without journaling its result (at least once)."""
    executed = store.executions().items()
    twice = {c: n for c, n in executed if n > store.allowance and "flaky-2" not in c}
    assert not twice, f"executed more than once: {twice}"


def started_runs(store: Store, ids: dict[str, str]) -> bool:
    runs = store.run_ids("kp-quick")
    for run_id in runs:
        assert store.status(run_id) == S.COMPLETED, f"run {run_id} is {store.status(run_id)}"
    once_each(store)
    return bool(runs)


def keyed_start(store: Store, ids: dict[str, str]) -> bool:
    assert len(store.run_ids("kp-quick")) <= 1, "one key started two runs"
    return started_runs(store, ids)


def child_cancelled(store: Store, ids: dict[str, str]) -> bool:
    parent, child = store.status(ids["run"]), store.status(ids["child0"])
    once_each(store)
    assert "pc.c nap-2" not in store.executions()
    if child == S.SLEEPING:
        assert parent == S.AWAITING_CHILD
        return False
    assert child == S.CANCELLED, child
    assert parent == S.COMPLETED, f"the child is cancelled, its parent {parent}"
    return True


def family_cancelled(store: Store, ids: dict[str, str]) -> bool:
    statuses = [store.status(run) for run in ids.values()]
    once_each(store)
    executed = store.executions()
    assert not any("nap-2" in call or "family-2" in call for call in executed), executed
    if statuses == [S.AWAITING_CHILD, S.SLEEPING, S.SLEEPING]:
        return False
    assert statuses == [S.CANCELLED] * 3, f"parent, children: {statuses}"
    return True


def retried(store: Store, ids: dict[str, str]) -> bool:
    status, executed = store.status(ids["run"]), store.executions()
    assert executed["flaky flaky-1"] == 1
    if status == S.FAILED:
        assert executed["flaky flaky-2"] == 1
        return False
    assert status == S.COMPLETED, status
    assert executed["flaky flaky-2"] == 2
    return True


def forked(store: Store, ids: dict[str, str]) -> bool:
    """The failed run stays as it was; each fork that landed reuses flaky-1 (never run
    again) and completes."""
    assert store.status(ids["run"]) == S.FAILED
    assert store.executions()["flaky flaky-1"] == 1, "a reused call ran again"
    forks = [run_id for run_id in store.run_ids("kp-flaky") if run_id != ids["run"]]
    for run_id in forks:
        assert store.status(run_id) == S.COMPLETED, f"fork {run_id} is {store.status(run_id)}"
        assert store.files.read_run(run_id)[0].forked_from is not None
    return bool(forks)


def resumed(store: Store, ids: dict[str, str]) -> bool:
    status = store.status(ids["run"])
    assert store.executions() == Counter({"nap nap-1": 1})
    assert status in (S.PAUSED, S.SLEEPING), status
    if status == S.SLEEPING:
        assert store.timers("run", ids["run"]), "sleeping without a timer"
    return status == S.SLEEPING


def paused(store: Store, ids: dict[str, str]) -> bool:
    status = store.status(ids["run"])
    assert status in (S.PAUSED, S.SLEEPING), status
    assert not store.executions()["nap nap-2"]
    return status == S.PAUSED


def pause_kept(store: Store, ids: dict[str, str]) -> bool:
    status = store.status(ids["run"])
    assert status == S.PAUSED, f"the pause was requested, and the run is {status}"
    assert not store.executions(), "a run paused before it ran executed a task"
    return True


def event_sent(store: Store, ids: dict[str, str]) -> bool:
    status, events = store.status(ids["run"]), store.events(ids["run"])
    once_each(store)
    assert events <= 1, f"one reference id delivered {events} times"
    if status == S.AWAITING_EVENT:
        assert events == 0
        return False
    assert (status, events) == (S.COMPLETED, 1), (status, events)
    return True


def schedule_added(store: Store, ids: dict[str, str]) -> bool:
    schedule = store.files.schedule("kp-s")
    if schedule is None:
        return False
    assert store.timers("schedule", "kp-s"), "the schedule exists but will never fire"
    return True


def schedule_fired(store: Store, ids: dict[str, str]) -> bool:
    assert store.timers("schedule", "kp-s"), "the schedule will never fire again"
    runs = store.run_ids("kp-quick")
    assert len(runs) == 1, f"one due time started {len(runs)} runs"
    return started_runs(store, ids)


START = ["start", "kp-quick@1.0.0", "--input-json", '{"key": "start"}']
EVENT = ["go", "--data-json", '{"n": 1}', "--reference-id", "ref-1"]


OPS = [
    Op("start-with-key", prepare_nothing, lambda ids: [*START, "--idempotency-key", "k"],
       keyed_start, doctor_exact=False),
    Op("start-without-key", prepare_nothing, lambda ids: START, started_runs, doctor_exact=False),
    Op("send-with-reference", prepare_waiter, lambda ids: ["send", ids["run"], *EVENT],
       event_sent, doctor_exact=False),
    Op("cancel-parked-child", prepare_parked_child, lambda ids: ["cancel", ids["child0"]],
       child_cancelled),
    Op("cancel-parent", prepare_family, lambda ids: ["cancel", ids["run"]], family_cancelled),
    Op("worker-cancels-parent", prepare_cancel_requested, lambda ids: WORKER,
       family_cancelled, repeat=()),
    Op("retry", prepare_failed, lambda ids: ["retry", ids["run"]], retried),
    Op("fork", prepare_failed, lambda ids: ["fork", ids["run"], "--from", "kp-step#2"], forked,
       doctor_exact=False),
    Op("resume", prepare_paused, lambda ids: ["resume", ids["run"]], resumed),
    Op("pause", prepare_napper, lambda ids: ["pause", ids["run"]], paused),
    Op("worker-pauses", prepare_pause_requested, lambda ids: WORKER, pause_kept, repeat=()),
    Op("schedule-add", prepare_nothing, lambda ids: ADD_SCHEDULE, schedule_added,
       repeat=(0, 2), doctor_exact=False),
    Op("schedule-firing", prepare_due_schedule, lambda ids: WORKER, schedule_fired,
       repeat=(), doctor_exact=False),
]  # fmt: skip


# -- the sweep ------------------------------------------------------------------------------


def sweep(op: Op, base: Path, stride: int) -> Figures:
    """Kill `op`'s command at each of its system calls in turn; the figures and failures."""
    template = Store(base / "template")
    template.root.mkdir(parents=True)
    ids = op.prepare(template)
    figures = Figures(op.name)
    untouched = template.fingerprint()
    allowance = 2 if op.command(ids)[0] == "worker" else 1
    for kill_at in _points():
        case = template.copy(base / f"kill-{kill_at}", allowance)
        code, calls = case.aiki(op.command(ids), kill_at)
        if code != KILLED:
            _check(figures, f"no kill (exit {code})", partial(_healed, op, case, ids, set()))
            figures.calls = calls["calls"] if calls else 0
            return figures
        figures.points += 1
        if case.fingerprint() == untouched:
            figures.untouched += 1  # killed before it changed a file that stays
        else:
            _after_kill(op, case, ids, figures, kill_at, stride, base)
        shutil.rmtree(case.root)
    raise AssertionError("unreachable")


def _points() -> Iterator[int]:
    kill_at = 0
    while True:
        kill_at += 1
        yield kill_at


def _after_kill(
    op: Op,
    case: Store,
    ids: dict[str, str],
    figures: Figures,
    kill_at: int,
    stride: int,
    base: Path,
) -> None:
    done = case.completed_calls()
    report = examine(case.files)
    if not report.healthy:
        figures.doctor_alarms += 1
        if op.doctor_exact:
            kinds = [finding.kind for finding in report.remaining]
            figures.failures.append(f"kill {kill_at}: doctor calls damage {kinds}")
    again = case.copy(base / f"again-{kill_at}") if op.repeat else None
    landed = _check(figures, f"kill {kill_at}", lambda: _healed(op, case, ids, done))
    figures.by_itself += landed is True
    figures.not_landed += landed is False
    if again is not None and (landed is False or kill_at % stride == 0):
        figures.repeated += 1
        _check(figures, f"kill {kill_at}, repeated", lambda: _repeated(op, again, ids, done))
    if again is not None:
        shutil.rmtree(again.root)


def _healed(op: Op, store: Store, ids: dict[str, str], done: set[str]) -> bool:
    before = store.executions()
    store.heal()
    again = [call for call in (store.executions() - before) if call in done]
    assert not again, f"executed again after its result was journaled: {again}"
    report = examine(store.files)
    assert report.healthy, f"doctor after healing: {[f.problem for f in report.remaining]}"
    return op.outcome(store, ids)


def _repeated(op: Op, store: Store, ids: dict[str, str], done: set[str]) -> bool:
    code, _ = store.aiki(op.command(ids))
    assert code in op.repeat, f"repeating the command exited {code}: {_last_log(store)}"
    assert _healed(op, store, ids, done), "repeated, the operation still did not land"
    return True


def _check(figures: Figures, where: str, check: Callable[[], bool]) -> bool | None:
    try:
        return check()
    except AssertionError as error:
        figures.failures.append(f"{where}: {str(error).splitlines()[0]}")
        return None


def _last_log(store: Store) -> str:
    logs = sorted(store.root.glob("aiki-*.log"), key=lambda path: path.stat().st_mtime)
    return logs[-1].read_text().strip()[-300:] if logs else ""


def _only() -> list[Op]:
    wanted = os.environ.get("AIKI_KP_ONLY")
    return [op for op in OPS if not wanted or op.name in wanted.split(",")]


def _params() -> list[Any]:
    return [pytest.param(op, id=op.name) for op in _only()]


@pytest.mark.parametrize("op", _params())
def test_a_store_heals_after_a_kill_at_any_system_call(
    op: Op, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROBE, str(tmp_path / "template" / "executions"))
    figures = sweep(op, tmp_path, int(os.environ.get("AIKI_KP_STRIDE", "3")))
    print(figures.line())
    assert figures.points > 0, "the command was never killed"
    assert not figures.failures, "\n".join([figures.line(), *figures.failures[:20]])


def main() -> None:
    import tempfile

    results = []
    for op in _only():
        with tempfile.TemporaryDirectory() as base:
            os.environ[PROBE] = str(Path(base) / "template" / "executions")
            figures = sweep(op, Path(base), int(os.environ.get("AIKI_KP_STRIDE", "1")))
        print(figures.line(), *figures.failures[:20], sep="\n  ", flush=True)
        results.append(figures.__dict__)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
