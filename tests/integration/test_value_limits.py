"""Whatever aiki accepts as a value, it can read back (issue 16.3).

aiki's readers refuse JSON nested deeper than 200 levels, and a JSON object cannot hold
two keys of one name: a value nested deeper than `MAX_DEPTH`, or a dict whose keys collide
as JSON text (`{1: "a", "1": "b"}`), is refused before anything is stored — as a bad
input for a start or an event, as the task's (or the workflow's) failure for an output.
Property tests show that every value accepted round-trips through the file store.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiki_cli import Client, Run, Worker, task, workflow
from aiki_cli.errors import InputInvalid
from aiki_cli.model.entry import TaskCompleted
from aiki_cli.model.runinfo import new_spec
from aiki_cli.model.status import RunStatus
from aiki_cli.store import Mail
from aiki_cli.store.files import FileStore
from aiki_cli.values.codec import MAX_DEPTH, Codec


def nest(depth: int, leaf: Any = 1) -> Any:
    """`leaf` inside `depth` levels, arrays and objects in turn."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@task(name="vl-make")
def make(input: dict[str, Any]) -> Any:
    return nest(input["depth"]) if "depth" in input else {1: "a", "1": "b"}


vl = workflow(name="vl")


@vl.v("1.0.0")
async def echo(input: Any, run: Run) -> Any:
    return input


@vl.v("2.0.0")
async def task_output(input: dict[str, Any], run: Run) -> Any:
    return await make.start(run, input)


@vl.v("3.0.0")
async def result(input: dict[str, Any], run: Run) -> Any:
    return nest(input["depth"])


@vl.v("4.0.0")
async def waits(input: Any, run: Run) -> Any:
    return (await run.wait_for_event("go")).data


def execute(client: Client) -> None:
    asyncio.run(Worker(client, [vl], poll_interval=0.01).run(until_idle=True))


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("bad", [nest(MAX_DEPTH + 1), nest(254), {1: "a", "1": "b"}])
def test_a_start_input_that_could_not_be_read_back_is_refused_and_nothing_written(
    tmp_path: Path, bad: Any
) -> None:
    client = Client(tmp_path / "runs")
    with pytest.raises(InputInvalid) as refused:
        asyncio.run(client.start(vl.versions["1.0.0"], bad))
    assert "nested deeper" in str(refused.value) or "JSON key '1'" in str(refused.value)
    assert stored_files(tmp_path) == []


def test_the_deepest_value_accepted_is_read_back(tmp_path: Path) -> None:
    client = Client(tmp_path / "runs")
    handle = asyncio.run(client.start(vl.versions["1.0.0"], nest(MAX_DEPTH)))
    execute(client)
    info = asyncio.run(client.get(handle.id))
    assert info.status == RunStatus.COMPLETED
    assert info.result == nest(MAX_DEPTH)


@pytest.mark.parametrize("bad", [nest(MAX_DEPTH + 1), nest(230), {1: "a", "1": "b"}])
def test_event_data_that_could_not_be_read_back_is_refused_and_the_run_still_takes_events(
    tmp_path: Path, bad: Any
) -> None:
    client = Client(tmp_path / "runs")
    handle = asyncio.run(client.start(vl.versions["4.0.0"], None))
    execute(client)
    run_dir = tmp_path / "runs" / "run" / handle.id
    with pytest.raises(InputInvalid):
        asyncio.run(client.send(handle.id, "go", bad))
    assert not (run_dir / "inbox").exists() or not list((run_dir / "inbox").iterdir())
    asyncio.run(client.send(handle.id, "go", {"fine": True}))
    execute(client)
    assert asyncio.run(client.get(handle.id)).result == {"fine": True}


@pytest.mark.parametrize("task_input", [{"depth": MAX_DEPTH + 1}, {"depth": 240}, {}])
def test_a_task_output_that_could_not_be_read_back_fails_the_task_not_the_store(
    tmp_path: Path, task_input: dict[str, Any]
) -> None:
    client = Client(tmp_path / "runs")
    handle = asyncio.run(client.start(vl.versions["2.0.0"], task_input))
    execute(client)
    info = asyncio.run(client.get(handle.id))  # the journal reads back: the run is not damaged
    assert info.status == RunStatus.FAILED
    assert info.error is not None and "output of task 'vl-make'" in info.error.message
    assert [call.status for call in info.tasks] == ["failed"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 250])
def test_a_workflow_result_that_could_not_be_read_back_fails_the_run(
    tmp_path: Path, depth: int
) -> None:
    client = Client(tmp_path / "runs")
    handle = asyncio.run(client.start(vl.versions["3.0.0"], {"depth": depth}))
    execute(client)
    info = asyncio.run(client.get(handle.id))
    assert info.status == RunStatus.FAILED
    assert info.error is not None and "nested deeper" in info.error.message


# -- property: whatever is accepted round-trips through the journal ---------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
keys = st.text(max_size=3) | st.integers(-3, 3) | st.booleans() | st.none() | st.floats()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
deep = st.builds(nest, st.integers(MAX_DEPTH - 5, 260), values)


def round_trip(root: Path, value: Any) -> None:
    """Store `value` as a run's input, a task's output and an event's data; read it back."""
    try:
        data = Codec(None, "value").encode(value)
    except InputInvalid:
        return  # refused before anything was stored: nothing to read back
    store = FileStore(root)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    spec = store.create_run(new_spec("vl", "1.0.0", data, now))
    claim = store.claim(spec.id)
    assert claim is not None
    claim.append(TaskCompleted(at=now, task="t", hash="h", output=data))
    claim.release()
    store.post(spec.id, Mail(key="m", kind="event", sent_at=now, name="go", data=data))
    read_spec, entries = store.read_run(spec.id)
    claim = store.claim(spec.id)
    assert claim is not None
    letters = claim.mail()
    claim.release()
    expected = json.loads(json.dumps(data))
    assert read_spec.input == expected
    assert isinstance(entries[0], TaskCompleted) and entries[0].output == expected
    assert letters[0].data == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values | deep)
def test_every_value_accepted_round_trips_through_the_journal(value: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        round_trip(Path(folder) / "runs", value)
