"""What only the file store promises: torn writes survived, private files, one index
read from its end, and locks that hold across processes and die with their holder."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from aiki_cli import Client, InputInvalid, Worker, WorkflowVersion
from aiki_cli.authoring.run import Run
from aiki_cli.errors import BadInput, RunDamaged
from aiki_cli.model.entry import Entry, Recovered, StatusChanged, parse_entry
from aiki_cli.model.runinfo import RunSpec
from aiki_cli.model.schedule import Schedule
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Mail
from aiki_cli.store.files import FileStore
from aiki_cli.store.files.doctor import examine
from aiki_cli.store.files.layout import LEAVING
from aiki_cli.values.ids import new_run_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ENTRIES: list[Entry] = [
    StatusChanged(at=T0, old=RunStatus.PENDING, new=RunStatus.RUNNING, worker="w1"),
    Recovered(at=T0, count=1, worker="w2"),
    StatusChanged(at=T0, old=RunStatus.RUNNING, new=RunStatus.RUNNING, worker="w2"),
]


def new_spec(n: int = 1, workflow: str = "orders") -> RunSpec:
    now = T0 + timedelta(milliseconds=n)
    return RunSpec(
        id=new_run_id(now, n.to_bytes(10, "big")),
        workflow=workflow,
        version="1.0.0",
        input={"n": n},
        created_at=now,
    )


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "runs")


@pytest.fixture
def run_id(store: FileStore) -> str:
    return store.create_run(new_spec()).id


def journal_of(store: FileStore, run_id: str) -> Path:
    return store.root / "run" / run_id / "journal.jsonl"


def write_journal(store: FileStore, run_id: str, *entries: Entry) -> None:
    claim = store.claim(run_id)
    assert claim is not None
    claim.append(*entries)
    claim.release()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- torn and damaged journals --------------------------------------------------------


def test_a_torn_last_line_is_ignored_then_cut_off_by_the_next_claim(
    store: FileStore, run_id: str
) -> None:
    write_journal(store, run_id, ENTRIES[0])
    journal = journal_of(store, run_id)
    whole = journal.read_bytes()
    with open(journal, "ab") as file:
        file.write(b'{"type":"task_completed","at":"2026-01-01T00:00:00Z","ta')

    assert store.read_run(run_id)[1] == ENTRIES[:1]
    claim = store.claim(run_id)
    assert claim is not None
    assert claim.entries == ENTRIES[:1]
    assert journal.read_bytes() == whole  # the torn tail is gone before anything follows it
    claim.append(*ENTRIES[1:])
    claim.release()

    assert store.read_run(run_id)[1] == ENTRIES
    lines = journal.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [parse_entry(line) for line in lines[:-1]] == ENTRIES


def test_a_journal_that_is_only_a_torn_line_reads_as_empty(store: FileStore, run_id: str) -> None:
    journal_of(store, run_id).write_bytes(b'{"type":"sta')
    assert store.read_run(run_id)[1] == []
    write_journal(store, run_id, ENTRIES[0])
    assert store.read_run(run_id)[1] == ENTRIES[:1]


def test_garbage_inside_the_journal_is_damage(store: FileStore, run_id: str) -> None:
    write_journal(store, run_id, ENTRIES[0])
    journal = journal_of(store, run_id)
    good = journal.read_bytes()
    with open(journal, "ab") as file:
        file.write(b"not json at all\n" + good)

    with pytest.raises(RunDamaged, match=r"journal\.jsonl line 2") as caught:
        store.read_run(run_id)
    assert caught.value.run_id == run_id
    assert caught.value.exit_code == 1
    with pytest.raises(RunDamaged):
        store.claim(run_id)
    journal.write_bytes(good)  # repaired by hand: the failed claim left the lock free
    claim = store.claim(run_id)
    assert claim is not None
    claim.release()


def test_an_unreadable_run_json_is_damage(store: FileStore, run_id: str) -> None:
    (store.root / "run" / run_id / "run.json").write_text("{")
    with pytest.raises(RunDamaged, match=r"run\.json"):
        store.read_run(run_id)


# -- what is on disk ------------------------------------------------------------------


def test_a_damaged_schedule_file_leaves_the_others_found(store: FileStore) -> None:
    kept = Schedule(
        id="kept", workflow="orders", version="1.0.0", every=60, created_at=T0, next_due=T0
    )
    store.save_schedule(kept)
    (store.root / "schedules" / "broken.json").write_text("{not json")
    assert store.schedule("kept") == kept


def test_run_files_are_private(store: FileStore, run_id: str) -> None:
    write_journal(store, run_id, ENTRIES[0])
    run_dir = store.root / "run" / run_id
    assert mode(run_dir) == 0o700
    assert mode(run_dir / "run.json") == 0o600
    assert mode(run_dir / "journal.jsonl") == 0o600
    assert mode(store.root / "ready" / run_id) == 0o600
    for sub in ("run", "ready", "index/keys"):
        assert mode(store.root / sub) == 0o700


def test_the_start_record_is_readable_json(store: FileStore, run_id: str) -> None:
    text = (store.root / "run" / run_id / "run.json").read_text()
    assert RunSpec.model_validate_json(text) == new_spec()
    assert text.endswith("\n") and "\n  " in text  # indented for people
    assert not list((store.root / "tmp").iterdir())  # the staging copy was moved, not left


def test_reading_an_empty_store_writes_nothing(store: FileStore) -> None:
    assert list(store.list_runs()) == []
    assert store.ready_runs() == []
    assert store.live_workers() == []
    assert not store.root.exists()


class Order(BaseModel):
    order_id: int


async def order_flow(input: Order, run: Run) -> int:
    return input.order_id


@pytest.mark.parametrize(
    ("value", "key", "error"),
    [
        ({"order_id": "not a number"}, None, InputInvalid),
        ({}, None, InputInvalid),
        ({"order_id": 1}, "", BadInput),
    ],
)
def test_a_rejected_start_writes_nothing(
    tmp_path: Path, value: object, key: str | None, error: type[Exception]
) -> None:
    client = Client(tmp_path / "runs")
    version = WorkflowVersion("orders", "1.0.0", order_flow, input=Order)
    with pytest.raises(error):
        client.create(version, value, idempotency_key=key)
    assert not (tmp_path / "runs").exists()


def test_a_value_that_is_not_json_writes_nothing(tmp_path: Path) -> None:
    client = Client(tmp_path / "runs")
    version = WorkflowVersion("orders", "1.0.0", order_flow)
    with pytest.raises(InputInvalid, match="not a JSON value"):
        client.create(version, {"when": object()})
    assert not (tmp_path / "runs").exists()


# -- the creation index -------------------------------------------------------------


@pytest.mark.parametrize("line_length", [64, 61, 97])
def test_list_runs_reads_the_index_backwards_across_chunks(
    store: FileStore, line_length: int
) -> None:
    # 64-byte lines put chunk boundaries (64 KiB) exactly between lines; others cut lines.
    ids = [new_run_id(T0 + timedelta(milliseconds=n), n.to_bytes(10, "big")) for n in range(3000)]
    workflow = "w" * (line_length - len(ids[0]) - len(" @1.0.0\n"))
    log = store.root / "index" / "created.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"".join(f"{run_id} {workflow}@1.0.0\n".encode() for run_id in ids))
    assert log.stat().st_size == 3000 * line_length > 2 * 64 * 1024

    refs = list(store.list_runs())
    assert [ref.id for ref in refs] == ids[::-1]
    assert {(ref.workflow, ref.version) for ref in refs} == {(workflow, "1.0.0")}

    with open(log, "ab") as file:
        file.write(b"01kdwz0m000000 orders@1.")  # a torn last line
    assert [ref.id for ref in store.list_runs()] == ids[::-1]


def test_a_run_created_after_a_torn_index_line_is_listed(store: FileStore) -> None:
    specs = [store.create_run(new_spec(n, f"wf{n}")) for n in range(3)]
    with open(store.root / "index" / "created.log", "ab") as file:
        file.write(b"01kdwz")  # a crash cut this line short
    assert [ref.id for ref in store.list_runs()] == [spec.id for spec in reversed(specs)]
    specs.append(store.create_run(new_spec(9, "later")))
    refs = list(store.list_runs())
    assert [ref.id for ref in refs] == [spec.id for spec in reversed(specs)]
    assert (refs[0].workflow, refs[0].version) == ("later", "1.0.0")
    listed = asyncio.run(Client(store).list())
    assert [info.id for info in listed] == [spec.id for spec in reversed(specs)]


# -- locks across processes ---------------------------------------------------------

HOLD = """
import sys
from pathlib import Path
from aiki_cli.store.files import FileStore
claim = FileStore(Path(sys.argv[1])).claim(sys.argv[2])
print("held" if claim is not None else "busy", flush=True)
sys.stdin.read()
"""


def claimer(store: FileStore, run_id: str) -> subprocess.Popen[str]:
    """A process that claims the run, says whether it got it, and holds on until told."""
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store.root), run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_only_one_of_several_processes_claims_a_run(store: FileStore, run_id: str) -> None:
    processes = [claimer(store, run_id) for _ in range(4)]
    try:
        answers = sorted(process.stdout.readline().strip() for process in processes)  # type: ignore[union-attr]
        assert answers == ["busy", "busy", "busy", "held"]
        assert store.claim(run_id) is None
    finally:
        for process in processes:
            process.communicate("")
    claim = store.claim(run_id)
    assert claim is not None
    claim.release()


def test_a_claim_held_in_this_process_blocks_other_processes(store: FileStore, run_id: str) -> None:
    claim = store.claim(run_id)
    assert claim is not None
    other = claimer(store, run_id)
    assert other.communicate("")[0].strip() == "busy"
    claim.release()
    other = claimer(store, run_id)
    assert other.communicate("")[0].strip() == "held"


def test_a_killed_holders_claim_is_free_at_once(store: FileStore, run_id: str) -> None:
    holder = claimer(store, run_id)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    assert store.claim(run_id) is None
    holder.kill()  # SIGKILL: no cleanup runs in the holder
    holder.communicate(timeout=10)
    assert holder.returncode == -signal.SIGKILL
    claim = store.claim(run_id)
    assert claim is not None
    claim.release()
    assert not (store.root / "run" / run_id / "lock").exists()  # the directory is the lock


# -- leaving the queue ------------------------------------------------------------------


class Died(BaseException):
    """The process stops here, as a `kill -9` would stop it."""


def test_a_worker_dying_while_it_takes_a_run_out_of_the_queue_leaves_it_queued(
    store: FileStore, run_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the marker's rename and its removal the run stays queued under
    `<id>.leaving`, so a parent whose worker dies there is not stranded with its mail."""
    unlink = os.unlink

    def dying_unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith(LEAVING):
            raise Died()
        unlink(path, *args, **kwargs)

    claim = store.claim(run_id)
    assert claim is not None
    monkeypatch.setattr(os, "unlink", dying_unlink)
    with pytest.raises(Died):
        claim.leave_queue()
    monkeypatch.setattr(os, "unlink", unlink)
    claim.release()
    assert os.listdir(store.root / "ready") == [run_id + LEAVING]
    assert store.ready_runs() == [run_id]  # a worker takes it up again
    assert store.is_ready(run_id)
    assert examine(store).healthy

    claim = store.claim(run_id)
    assert claim is not None
    claim.leave_queue()  # the next worker's park finishes the job
    claim.release()
    assert os.listdir(store.root / "ready") == []


def test_mail_sent_while_a_run_leaves_the_queue_queues_it_again(
    store: FileStore, run_id: str
) -> None:
    claim = store.claim(run_id)
    assert claim is not None

    def mail_arrives() -> bool:
        store.post(run_id, Mail(key="late", kind="event", sent_at=datetime.now(UTC), name="go"))
        return False  # as if the check looked just before the mail landed

    store.indexes.leave_queue(run_id, mail_arrives)
    claim.release()
    assert store.ready_runs() == [run_id]


def test_an_ended_run_leaves_no_leaving_marker(store: FileStore, run_id: str) -> None:
    ready = store.root / "ready"
    (ready / run_id).rename(ready / (run_id + LEAVING))
    store.indexes.set_ready(run_id, False)
    assert os.listdir(ready) == []
    # Both names (mail re-queued the run, then its worker died): the next end takes the
    # other one, so an ended run is claimed again at most once.
    os.link(ready.parent / "run" / run_id / "run.json", ready / (run_id + LEAVING))
    store.indexes.set_ready(run_id, True)
    store.indexes.set_ready(run_id, False)
    assert store.ready_runs() == [run_id]
    store.indexes.set_ready(run_id, False)
    assert store.ready_runs() == []


# -- idempotency keys -------------------------------------------------------------------


def later_version() -> WorkflowVersion:
    async def code(input: Any, run: Run) -> Any:
        return input

    return WorkflowVersion("later", "1.0.0", code)


def test_a_repeated_keyed_delayed_start_leaves_the_parked_run_alone(tmp_path: Path) -> None:
    """A worker parked the delayed run (a timer, out of the queue; no journal entry yet):
    starting it again with its key must neither queue it again nor list it again."""
    client, version = Client(tmp_path / "runs"), later_version()
    first = client.create(version, {"n": 1}, "order-1", delay="1h")
    asyncio.run(Worker(client, [version], poll_interval=0.01).run(until_idle=True))
    root = tmp_path / "runs"
    assert os.listdir(root / "ready") == [] and len(os.listdir(root / "timers")) == 1

    for _ in range(3):
        assert client.create(version, {"n": 1}, "order-1", delay="1h").id == first.id

    assert (root / "index" / "created.log").read_text().splitlines() == [f"{first.id} later@1.0.0"]
    assert os.listdir(root / "ready") == []
    assert asyncio.run(client.get(first.id)).status == RunStatus.PENDING


def test_a_keyed_start_that_died_before_the_queue_is_queued_by_its_repeat(
    tmp_path: Path,
) -> None:
    client, version = Client(tmp_path / "runs"), later_version()
    first = client.create(version, {"n": 1}, "order-1")
    root = tmp_path / "runs"
    (root / "ready" / first.id).unlink()  # as if the start died after writing its key
    (root / "index" / "created.log").write_text("")

    assert client.create(version, {"n": 1}, "order-1").id == first.id

    assert os.listdir(root / "ready") == [first.id]
    assert (root / "index" / "created.log").read_text().splitlines() == [f"{first.id} later@1.0.0"]
