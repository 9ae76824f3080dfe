"""Hostile and stray files in the runs directory (issue 16, items 13 and 14): aiki never
follows a symlink, never opens a FIFO or a device as a file, never derives a path from a
file's content without checking it, and never dies of a file it did not write.

    a run's `timer` record naming another file     `cancel` deletes nothing; the run is damaged
    journal.jsonl a symlink to an outside file     nothing is written through it; damaged
    journal.jsonl or run.json a FIFO               nothing hangs; damaged
    ready/README, a timer name beyond year 9999    workers skip it (logged once); doctor names it

Every command runs as a real `aiki` process with a deadline, so a hang fails the test
instead of stalling it, and a damaged run is reported in one line naming its file while
the store's other runs go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import Client, Worker
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.store.files import FileStore
from aiki_cli.store.files.syncio import NotRegularFile, open_regular

DEADLINE = 30.0
FLOWS = """
from aiki_cli import task, workflow

@task(name="hf-echo")
def echo(value):
    return value

@workflow(name="hf-echo").v("1.0.0")
async def echo_v1(value, run):
    return await echo.start(run, value)

@workflow(name="hf-nap").v("1.0.0")
async def nap_v1(value, run):
    await run.sleep("long", 3600)
    return await echo.start(run, value)
"""


class Store:
    """A runs directory in `tmp_path` and the `aiki` command line over it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runs = root / "runs"
        self.flows = root / "flows"
        self.flows.mkdir()
        (self.flows / "hf_flows.py").write_text(FLOWS)
        # Nothing of the caller's says where the store is or how to print: with CI set, a
        # worker also says each run's status change in a plain line (`cli/live.py`).
        ambient = {"CI"}
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("AIKI_") and k not in ambient
        }
        self.env["NO_COLOR"] = "1"
        self.started: list[subprocess.Popen[str]] = []

    def command(self, *args: str) -> list[str]:
        return [
            *(sys.executable, "-m", "aiki_cli"),
            *("--runs-dir", str(self.runs), "--workflows-dir", str(self.flows)),
            *args,
        ]

    def aiki(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self.command(*args),
                env=self.env,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=DEADLINE,  # run() kills the child when this fires
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"`aiki {' '.join(args)}` hung (still running after {DEADLINE:g}s)")

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            self.command(*args),
            env=self.env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def start(self, ref: str, value: Any = None) -> str:
        done = self.aiki("start", ref, "--input-json", json.dumps(value))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def status(self, run_id: str) -> subprocess.CompletedProcess[str]:
        return self.aiki("status", run_id, "--json")

    def worker_until_idle(self) -> str:
        """A worker's stderr, once it has executed everything it could and exited 0."""
        done = self.aiki("worker", "--until-idle", "--poll-interval", "0.05")
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return done.stderr

    def run_dir(self, run_id: str) -> Path:
        return self.runs / "run" / run_id


@pytest.fixture
def store(tmp_path: Path) -> Any:
    made = Store(tmp_path)
    yield made
    for process in made.started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=DEADLINE)


def lines_naming(text: str, fragment: str) -> int:
    return sum(fragment in line for line in text.splitlines())


def one_damage_line(done: subprocess.CompletedProcess[str], run_id: str, *fragments: str) -> None:
    """Exit 1, nothing on stdout, one line saying the run is damaged and naming the file."""
    assert (done.returncode, done.stdout) == (1, ""), done
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and f"run {run_id} is damaged" in lines[0], done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def serve_until_completed(store: Store, worker: subprocess.Popen[str], run_id: str) -> None:
    """Wait while the serving `worker` executes the run; fail if it exits or stalls."""
    deadline = time.monotonic() + DEADLINE
    while json.loads(store.status(run_id).stdout)["status"] != "completed":
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the worker died or stalled: {worker.communicate(timeout=DEADLINE)}")
        time.sleep(0.05)


def stop(worker: subprocess.Popen[str]) -> str:
    """SIGTERM the worker; its stderr, once it has exited 0."""
    worker.send_signal(signal.SIGTERM)
    try:
        _, stderr = worker.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail(f"the worker ignored SIGTERM: {worker.communicate(timeout=DEADLINE)}")
    assert worker.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    return stderr


def parked(store: Store) -> str:
    run_id = store.start("hf-nap@1.0.0", "slept")
    store.worker_until_idle()
    assert json.loads(store.status(run_id).stdout)["status"] == "sleeping"
    assert (store.run_dir(run_id) / "timer").is_file()
    return run_id


# -- paths from file content, and symlinks ------------------------------------------------


@pytest.mark.parametrize("target", ["absolute", "../index/created.log", "another run's"])
def test_a_timer_record_naming_another_file_is_never_followed(store: Store, target: str) -> None:
    other = parked(store)
    run_id = parked(store)
    victim = {
        "absolute": store.root / "precious.txt",
        "../index/created.log": store.runs / "index" / "created.log",
        "another run's": store.runs / "timers" / (store.run_dir(other) / "timer").read_text(),
    }[target]
    if target == "absolute":
        victim.write_text("precious\n")
    before = victim.read_bytes()
    named = str(victim) if target == "absolute" else target
    if target == "another run's":
        named = victim.name
    record = store.run_dir(run_id) / "timer"
    record.write_text(named)

    one_damage_line(store.aiki("cancel", run_id), run_id, str(record), "never followed")
    assert victim.read_bytes() == before
    assert json.loads(store.status(run_id).stdout)["status"] == "sleeping"  # nothing done

    doctor = store.aiki("doctor", "--json")
    assert doctor.returncode == 1, doctor
    found = [(f["kind"], f["path"]) for f in json.loads(doctor.stdout)["findings"]]
    assert found == [("timer-record-damaged", str(record))]
    assert store.aiki("doctor", "--repair").returncode == 0
    assert store.aiki("cancel", run_id).returncode == 0
    assert json.loads(store.status(run_id).stdout)["status"] == "cancelled"
    assert victim.read_bytes() == before
    assert json.loads(store.status(other).stdout)["status"] == "sleeping"
    assert store.aiki("doctor").returncode == 0


def test_a_symlinked_journal_is_never_written_through(store: Store) -> None:
    outside = store.root / "outside.txt"
    outside.write_text("not aiki's\n")
    damaged = store.start("hf-echo@1.0.0", "linked")
    journal = store.run_dir(damaged) / "journal.jsonl"
    journal.unlink()
    journal.symlink_to(outside)
    good = store.start("hf-echo@1.0.0", "fine")

    stderr = store.worker_until_idle()
    assert outside.read_text() == "not aiki's\n"
    assert lines_naming(stderr, damaged) == 1 and "symbolic link" in stderr, stderr
    assert json.loads(store.status(good).stdout)["result"] == "fine"
    one_damage_line(store.status(damaged), damaged, str(journal), "symbolic link")


def test_a_symlinked_run_directory_is_never_written_through(store: Store) -> None:
    damaged = store.start("hf-echo@1.0.0", "moved")
    run_dir, elsewhere = store.run_dir(damaged), store.root / "elsewhere"
    run_dir.rename(elsewhere)
    run_dir.symlink_to(elsewhere)

    stderr = store.worker_until_idle()
    assert (elsewhere / "journal.jsonl").read_bytes() == b""
    assert lines_naming(stderr, damaged) == 1 and "symbolic link" in stderr, stderr


# -- FIFOs ----------------------------------------------------------------------------


def make_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path, 0o600)


def test_a_fifo_journal_hangs_nothing_and_kills_no_worker(store: Store) -> None:
    damaged = store.start("hf-echo@1.0.0", "piped")
    journal = store.run_dir(damaged) / "journal.jsonl"
    make_fifo(journal)
    good = store.start("hf-echo@1.0.0", "fine")

    stderr = store.worker_until_idle()
    assert lines_naming(stderr, damaged) == 1 and "FIFO" in stderr, stderr
    assert json.loads(store.status(good).stdout)["result"] == "fine"
    one_damage_line(store.status(damaged), damaged, str(journal), "FIFO")
    listed = store.aiki("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row["status"] for row in json.loads(listed.stdout)}
    assert rows == {damaged: "damaged", good: "completed"}
    doctor = store.aiki("doctor", "--json")
    assert doctor.returncode == 1, doctor
    findings = json.loads(doctor.stdout)["findings"]
    assert [(f["kind"], f["path"]) for f in findings] == [("journal-unreadable", str(journal))]


def test_a_fifo_where_an_idempotency_key_is_recorded_hangs_nothing(store: Store) -> None:
    start = ("start", "hf-echo@1.0.0", "--input-json", '"keyed"', "--idempotency-key", "k1")
    first = store.aiki(*start)
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.strip()
    [record] = (store.runs / "index" / "keys").iterdir()
    make_fifo(record)

    again = store.aiki(*start)
    assert (again.returncode, again.stdout) == (1, ""), again
    assert again.stderr.count("\n") == 1 and "FIFO" in again.stderr, again.stderr
    assert str(record) in again.stderr and "doctor --repair" in again.stderr, again.stderr
    stderr = store.worker_until_idle()  # the run whose key it cannot read: damaged, left
    assert lines_naming(stderr, run_id) == 1 and "FIFO" in stderr, stderr
    doctor = store.aiki("doctor", "--json")
    assert doctor.returncode == 1, doctor
    findings = json.loads(doctor.stdout)["findings"]
    assert [(f["kind"], f["path"], f["damage"]) for f in findings] == [
        ("key-damaged", str(record), True)
    ]
    assert store.aiki("doctor", "--repair").returncode == 0

    repeated = store.aiki(*start)
    assert (repeated.returncode, repeated.stdout.strip()) == (0, run_id), repeated
    store.worker_until_idle()
    assert json.loads(store.status(run_id).stdout)["result"] == "keyed"


def test_a_letter_that_is_no_letter_makes_its_run_damaged_not_the_worker(store: Store) -> None:
    piped = store.start("hf-echo@1.0.0", "piped")
    garbled = store.start("hf-echo@1.0.0", "garbled")
    good = store.start("hf-echo@1.0.0", "fine")
    for run_id in (piped, garbled):
        (store.run_dir(run_id) / "inbox").mkdir()
    os.mkfifo(store.run_dir(piped) / "inbox" / "x.json", 0o600)
    (store.run_dir(garbled) / "inbox" / "x.json").write_text("not a letter")

    stderr = store.worker_until_idle()  # no traceback, and it exits

    assert lines_naming(stderr, piped) == 1 and "FIFO" in stderr, stderr
    assert lines_naming(stderr, garbled) == 1 and "not a letter" in stderr, stderr
    assert json.loads(store.status(good).stdout)["result"] == "fine"
    doctor = json.loads(store.aiki("doctor", "--json").stdout)
    assert sorted((f["kind"], f["run_id"]) for f in doctor["findings"]) == sorted(
        [("mail-unreadable", piped), ("mail-unreadable", garbled)]
    )


def test_a_worker_facing_a_fifo_run_json_still_stops_on_sigterm(store: Store) -> None:
    damaged = store.start("hf-echo@1.0.0", "piped")
    make_fifo(store.run_dir(damaged) / "run.json")
    worker = store.spawn("worker", "--poll-interval", "0.05")
    good = store.start("hf-echo@1.0.0", "fine")
    serve_until_completed(store, worker, good)

    stderr = stop(worker)
    assert lines_naming(stderr, damaged) == 1 and "FIFO" in stderr, stderr
    assert store.status(damaged).returncode == 1


# -- strays -----------------------------------------------------------------------------


def test_stray_files_in_ready_and_timers_are_skipped_and_reported(store: Store) -> None:
    good = store.start("hf-echo@1.0.0", "fine")
    strays = [
        store.runs / "ready" / "README",
        store.runs / "ready" / "README~",
        store.runs / "timers" / f"999999999999999-run-{good}",  # year 33658
        store.runs / "timers" / "000000000000001-run-README",
    ]
    for path in strays:
        path.write_text("")

    worker = store.spawn("worker", "--poll-interval", "0.05")
    serve_until_completed(store, worker, good)
    later = store.start("hf-echo@1.0.0", "later")  # the worker goes on serving
    serve_until_completed(store, worker, later)
    stderr = stop(worker)
    for path in strays:  # logged once, though seen on every pass
        assert stderr.count(f"{path.parent.name}/{path.name} ") == 1, (path.name, stderr)
        assert path.exists()

    doctor = store.aiki("doctor", "--json")
    assert doctor.returncode == 1, doctor
    found = {finding["path"] for finding in json.loads(doctor.stdout)["findings"]}
    assert found == {str(path) for path in strays}
    assert store.aiki("doctor", "--repair").returncode == 0
    assert not any(path.exists() for path in strays)


def test_a_worker_skips_a_name_in_the_queue_that_is_no_run_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever a store lists, a name that is not a run id never stops a worker."""

    class Unfiltered(FileStore):
        def ready_runs(self) -> list[str]:
            return ["README", *super().ready_runs()]

    client = Client(Unfiltered(tmp_path / "runs"))
    flows = load_workflows(Store(tmp_path).flows)
    good = client.create(flows["hf-echo@1.0.0"], "fine").id

    async def serve() -> None:
        worker = Worker(client, flows.values(), poll_interval=0.01)
        serving = asyncio.create_task(worker.run())
        await client.wait(good, timeout=DEADLINE)
        later = client.create(flows["hf-echo@1.0.0"], "later").id  # more passes
        await client.wait(later, timeout=DEADLINE)
        worker.stop()
        await serving

    with caplog.at_level(logging.ERROR, logger="aiki.worker"):
        asyncio.run(serve())
    about = [r.getMessage() for r in caplog.records if "README" in r.getMessage()]
    assert len(about) == 1 and about[0].startswith("skipping 'README' in the queue: "), about


# -- the I/O layer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: path.symlink_to(path.with_name("target")), "symbolic link"),
        (lambda path: os.mkfifo(path), "a FIFO"),
        (lambda path: path.mkdir(), "a directory"),
    ],
)
@pytest.mark.parametrize("flags", [os.O_RDONLY, os.O_WRONLY, os.O_RDWR | os.O_APPEND])
def test_open_regular_refuses_anything_but_a_regular_file_without_blocking(
    tmp_path: Path, make: Callable[[Path], None], kind: str, flags: int
) -> None:
    (tmp_path / "target").write_text("outside")
    path = tmp_path / "odd"
    make(path)
    with pytest.raises(NotRegularFile, match=kind):
        os.close(open_regular(path, flags))
    assert (tmp_path / "target").read_text() == "outside"
