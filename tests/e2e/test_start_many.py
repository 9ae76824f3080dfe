"""`aiki start NAME@VERSION --inputs FILE.jsonl`: one run per line, their ids one a line on
stdout, and nothing started when any line is bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .support import RUN_ID, Invoke, assert_one_error, run_dirs


def test_each_line_starts_a_run_and_the_ids_are_printed_one_a_line_in_order(
    aiki: Invoke, cli: Invoke, runs: Path, tmp_path: Path
) -> None:
    (tmp_path / "in.jsonl").write_text('{"n": 1}\n\n{"n": 2}\n{"n": 3, "word": "yo"}\n')

    outcome = aiki("start", "e2e-echo@1.0.0", "--inputs", "in.jsonl")

    assert outcome.code == 0, outcome
    ids = outcome.stdout.splitlines()
    assert len(ids) == 3 and all(RUN_ID.fullmatch(run_id) for run_id in ids), outcome
    assert outcome.stdout == "".join(f"{run_id}\n" for run_id in ids)
    assert "started 3 runs of e2e-echo@1.0.0" in outcome.stderr
    assert run_dirs(runs) == sorted(ids)
    inputs = [cli("status", run_id, "--json").json()["input"] for run_id in ids]
    assert inputs == [{"n": 1}, {"n": 2}, {"n": 3, "word": "yo"}]
    worked = aiki("worker", "--until-idle")
    assert worked.code == 0, worked
    listed = cli("list", "--json").json()
    assert {row["id"]: row["status"] for row in listed} == {i: "completed" for i in ids}


def test_the_lines_may_come_from_stdin(aiki: Invoke, runs: Path) -> None:
    outcome = aiki("start", "e2e-echo@1.0.0", "--inputs", "-", stdin='{"n": 1}\n{"n": 2}\n')
    assert outcome.code == 0, outcome
    assert sorted(outcome.stdout.split()) == run_dirs(runs)
    assert len(run_dirs(runs)) == 2


def test_a_line_that_is_not_json_is_named_and_nothing_is_started(
    aiki: Invoke, runs: Path, tmp_path: Path
) -> None:
    (tmp_path / "in.jsonl").write_text('{"n": 1}\n{"n": 2}\n\n{"n": \n{"n": 5}\n')
    outcome = aiki("start", "e2e-echo@1.0.0", "--inputs", "in.jsonl")
    assert_one_error(outcome, 2, "in.jsonl line 4", "not valid JSON")
    assert not runs.exists() or run_dirs(runs) == []


def test_a_line_failing_the_input_model_is_named_and_nothing_is_started(
    aiki: Invoke, runs: Path, tmp_path: Path
) -> None:
    good = {"sku": "a", "quantity": 1}
    lines = [json.dumps(good), json.dumps(good), json.dumps({"sku": "b", "quantity": 0})]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    outcome = aiki("start", "e2e-typed@1.0.0", "--inputs", "in.jsonl")
    assert_one_error(outcome, 2, "in.jsonl line 3", "quantity", "no run was started")
    assert not runs.exists() or run_dirs(runs) == []


@pytest.mark.parametrize(
    ("flag", "extra"),
    [
        ("--wait", []),
        ("--json", []),
        ("--input-json", ["{}"]),
        ("--idempotency-key", ["k"]),
    ],
)
def test_options_for_one_run_are_refused_with_inputs(
    aiki: Invoke, runs: Path, tmp_path: Path, flag: str, extra: list[str]
) -> None:
    (tmp_path / "in.jsonl").write_text('{"n": 1}\n')
    outcome = aiki("start", "e2e-echo@1.0.0", "--inputs", "in.jsonl", flag, *extra)
    assert_one_error(outcome, 2, f"without {flag}")
    assert not runs.exists() or run_dirs(runs) == []


@pytest.mark.parametrize(
    ("content", "fragment"), [(None, "does not exist"), ("\n  \n", "holds no input")]
)
def test_a_missing_or_empty_file_is_refused(
    aiki: Invoke, tmp_path: Path, content: str | None, fragment: str
) -> None:
    if content is not None:
        (tmp_path / "in.jsonl").write_text(content)
    assert_one_error(aiki("start", "e2e-echo@1.0.0", "--inputs", "in.jsonl"), 2, fragment)
