"""`aiki start --wait` hands the plain-function bodies of the run it executes to the
worker's relay (issue 19 item 2): one long-lived thread, not the executor's, and the
command still exits once the run ends (the relay's thread ends with the worker)."""

from __future__ import annotations

from pathlib import Path

from .support import Invoke

FLOWS = """
import threading
from aiki_cli import Run, task, workflow


@task(name="where")
def where(i: int) -> str:
    return threading.current_thread().name


@workflow(name="relayed").v("1.0.0")
async def relayed_v1(input: dict, run: Run) -> list:
    return [await where.start(run, i) for i in range(input["k"])]
"""


def test_plain_function_bodies_run_in_the_relay_thread(aiki: Invoke, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "relayed.py").write_text(FLOWS)
    outcome = aiki(
        "start",
        "relayed@1.0.0",
        "--input-json",
        '{"k": 3}',
        "--wait",
        "--json",
        env={"AIKI_WORKFLOWS_DIR": str(flows)},
    )
    assert outcome.code == 0, outcome
    assert outcome.json()["result"] == ["aiki-relay"] * 3
