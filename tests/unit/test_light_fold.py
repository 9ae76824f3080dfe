"""The front door's fold (`model/light.py`) gives the documents the models' fold gives:
over generated journals, `status --json`'s document and `list --json`'s row, from the
lines as stored, are equal to `summarize(...).document()`; and what it does not read as
the models do, it refuses (`Unsure`) rather than read otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiki_cli.model import light
from aiki_cli.model.entry import (
    ChildEnded,
    ChildStarted,
    Entry,
    ErrorInfo,
    EventReceived,
    EventTimedOut,
    EventWaited,
    Progress,
    Recovered,
    SleepEnded,
    SleepStarted,
    StatusChanged,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
    dump_entry,
    parse_entry,
)
from aiki_cli.model.journal import summarize
from aiki_cli.model.runinfo import ForkOrigin, RunSpec
from aiki_cli.model.status import RunStatus

BASE = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
RUN_ID = "01kb0000000000000000000000"

moments = st.builds(
    lambda seconds, micros: BASE + timedelta(seconds=seconds, microseconds=micros),
    st.integers(0, 50),
    st.sampled_from([0, 1, 250_000, 999_999]),
)
maybe_moments = st.none() | moments
names = st.sampled_from(["a", "b", "é-ünïcode"])
hashes = st.sampled_from(["h1", "h2"])
attempts = st.integers(1, 3)
seqs = st.integers(1, 2)
statuses = st.sampled_from(list(RunStatus))
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
errors = st.builds(
    ErrorInfo,
    type=st.sampled_from(["ValueError", "TaskFailed"]),
    message=st.text(max_size=8),
    task=st.none() | names,
    traceback=st.none() | st.just("Traceback …"),
)
reasons = st.none() | st.sampled_from([light.WORKFLOW_RETRY, "sleep", "stopped"])


def entries_of(statuses: st.SearchStrategy[RunStatus]) -> st.SearchStrategy[Entry]:
    return st.one_of(
        st.builds(
            StatusChanged,
            at=moments,
            old=statuses,
            new=statuses,
            attempt=attempts,
            reason=reasons,
            until=maybe_moments,
            result=values,
            error=st.none() | errors,
        ),
        st.builds(TaskStarted, at=moments, task=names, hash=hashes, input=values, attempt=attempts),
        st.builds(
            TaskCompleted, at=moments, task=names, hash=hashes, output=values, attempt=attempts
        ),
        st.builds(
            TaskFailed,
            at=moments,
            task=names,
            hash=hashes,
            error=errors,
            attempt=attempts,
            retry_at=maybe_moments,
        ),
        st.builds(Recovered, at=moments, count=st.integers(0, 3)),
        st.builds(SleepStarted, at=moments, name=names, seq=seqs, until=moments),
        st.builds(SleepEnded, at=moments, name=names, seq=seqs, woken=st.booleans()),
        st.builds(EventReceived, at=moments, name=names, key=st.just("k"), data=values),
        st.builds(EventWaited, at=moments, name=names, seq=seqs, until=maybe_moments),
        st.builds(EventTimedOut, at=moments, name=names, seq=seqs),
        st.builds(
            ChildStarted,
            at=moments,
            seq=seqs,
            child=names,
            workflow=st.just("w"),
            version=st.just("1"),
        ),
        st.builds(ChildEnded, at=moments, child=names, status=statuses, error=st.none() | errors),
        st.builds(
            Progress, at=moments, message=names, fraction=st.none() | st.floats(0, 1) | st.just(1)
        ),
    )


entries = entries_of(statuses)
# Parked runs, where what a run waits for is decided: retries, sleeps, events, children.
parked_entries = entries_of(
    st.sampled_from(
        [
            RunStatus.AWAITING_RETRY,
            RunStatus.RUNNING,
            RunStatus.SLEEPING,
            RunStatus.AWAITING_EVENT,
            RunStatus.AWAITING_CHILD,
        ]
    )
)


specs = st.builds(
    RunSpec,
    id=st.just(RUN_ID),
    workflow=st.just("order-processing"),
    version=st.just("1.0.0"),
    input=values,
    created_at=moments,
    idempotency_key=st.none() | st.just("key-1"),
    parent_id=st.none() | st.just("01kb0000000000000000000001"),
    not_before=maybe_moments,
    forked_from=st.none() | st.builds(ForkOrigin, run_id=st.just(RUN_ID), task=names),
)


def light_document(spec: RunSpec, lines: list[bytes], cancel: bool, full: bool) -> Any:
    """What the front door folds from the stored bytes."""
    records = [light.read_entry(json.loads(line)) for line in lines]
    record = light.read_spec(json.loads(spec.model_dump_json()))
    return light.document(record, records, cancel_requested=cancel, full=full)


@settings(max_examples=300, deadline=None)
@given(spec=specs, journal=st.lists(entries, max_size=25), cancel=st.booleans())
def test_the_light_fold_prints_what_the_models_fold_prints(
    spec: RunSpec, journal: list[Entry], cancel: bool
) -> None:
    assert_same_documents(spec, journal, cancel)


@settings(max_examples=300, deadline=None)
@given(spec=specs, journal=st.lists(parked_entries, max_size=25))
def test_the_light_fold_says_what_a_parked_run_waits_for_as_the_models_do(
    spec: RunSpec, journal: list[Entry]
) -> None:
    assert_same_documents(spec, journal, cancel=False)


def assert_same_documents(spec: RunSpec, journal: list[Entry], cancel: bool) -> None:
    lines = [dump_entry(entry) for entry in journal]
    stored = [parse_entry(line) for line in lines]  # the journal as the app reads it back
    info = summarize(spec, stored, cancel_requested=cancel)
    for full in (True, False):
        expected = json.dumps(info.document(full=full), indent=2, ensure_ascii=False)
        got = json.dumps(light_document(spec, lines, cancel, full), indent=2, ensure_ascii=False)
        assert got == expected


def test_a_progress_fraction_written_as_a_whole_number_reads_as_a_float() -> None:
    """The model reads `"fraction": 1` as 1.0 and prints `1.0`: so does the light fold."""
    line = b'{"type":"progress","at":"2026-12-03T09:00:00Z","message":"m","fraction":1}'
    assert light.read_entry(json.loads(line))["fraction"] == 1.0
    assert isinstance(light.read_entry(json.loads(line))["fraction"], float)


@pytest.mark.parametrize(
    "line",
    [
        '{"type":"task_started","at":"2026-12-03T09:00:00+00:00","task":"a","hash":"h"}',
        '{"type":"task_started","at":"2026-12-03T09:00:00.5Z","task":"a","hash":"h"}',
        '{"type":"task_started","at":"2026-12-03T09:00:00.000000Z","task":"a","hash":"h"}',
        '{"type":"task_started","at":"2026-12-03T09:00:00Z","task":"a","hash":"h","attempt":"2"}',
        '{"type":"task_started","at":"2026-12-03T09:00:00Z","task":"a","hash":"h","attempt":null}',
        '{"type":"task_started","at":"2026-12-03T09:00:00Z","task":"a","hash":"h","attempt":true}',
        '{"type":"task_started","at":"2026-12-03T09:00:00Z","task":"a"}',
        '{"type":"status","at":"2026-12-03T09:00:00Z","from":"pending","to":"dancing"}',
        '{"type":"sleep_ended","at":"2026-12-03T09:00:00Z","name":"n","seq":1,"woken":null}',
        '{"type":"teleported","at":"2026-12-03T09:00:00Z"}',
        '["status"]',
    ],
)
def test_a_line_the_models_would_read_otherwise_is_left_to_them(line: str) -> None:
    with pytest.raises(light.Unsure):
        light.read_entry(json.loads(line))


def test_a_start_record_of_a_newer_format_is_left_to_the_app() -> None:
    record = json.loads(
        RunSpec(id=RUN_ID, workflow="w", version="1", created_at=BASE).model_dump_json()
    )
    assert light.read_spec(record)["id"] == RUN_ID
    with pytest.raises(light.Unsure):
        light.read_spec({**record, "format": 2})


def test_a_park_for_a_workflow_retry_ends_with_the_next_status_change() -> None:
    """Found by the property above, rarely: after a later status change, the run waits for
    the retry of its failed task, not for the workflow's retry."""
    spec = RunSpec(id=RUN_ID, workflow="w", version="1", created_at=BASE)
    retrying, failing = RunStatus.AWAITING_RETRY, ErrorInfo(type="ValueError", message="no")
    journal: list[Entry] = [
        StatusChanged(at=BASE, old=retrying, new=retrying, reason=light.WORKFLOW_RETRY),
        TaskFailed(at=BASE, task="a", hash="h1", error=failing, retry_at=BASE),
        StatusChanged(at=BASE, old=retrying, new=retrying),
    ]
    assert_same_documents(spec, journal, cancel=False)
    lines = [dump_entry(entry) for entry in journal]
    assert light_document(spec, lines, False, True)["waiting_for"]["name"] == "a"
