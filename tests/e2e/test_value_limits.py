"""Values aiki could not read back are refused on the command line (issue 16.3): a start
input or event data nested deeper than the limit, or with keys that collide as JSON text,
exits 2 with one line, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiki_cli.values.codec import MAX_DEPTH

from .support import Invoke, assert_one_error

DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
TOO_DEEP_TO_READ = "[" * 230 + "]" * 230


@pytest.mark.parametrize("text", [DEEP, TOO_DEEP_TO_READ])
def test_start_refuses_a_value_nested_too_deep(cli: Invoke, runs: Path, text: str) -> None:
    outcome = cli("start", "e2e-echo@1.0.0", "--input-json", text)
    assert_one_error(outcome, 2, "nested deeper than 100 levels")
    assert not runs.exists()


def test_send_refuses_event_data_nested_too_deep(cli: Invoke, runs: Path) -> None:
    run_id = cli("start", "e2e-gated@1.0.0", "--input-json", json.dumps({"x": 1})).stdout.strip()
    outcome = cli("send", run_id, "go", "--data-json", TOO_DEEP_TO_READ)
    assert_one_error(outcome, 2, "nested deeper than 100 levels")
    assert not (runs / "run" / run_id / "inbox").exists()
    assert cli("status", run_id, "--json").code == 0
