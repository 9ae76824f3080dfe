"""A process that acts on a store while workers run: starts runs, sends events, cancels.

    python _rel_actor.py RUNS_DIR WORKFLOWS_DIR PLAN.json RESULTS.jsonl

PLAN.json is a list of steps, each done `at` seconds after the actor began:

    {"at": 0.1, "op": "start", "ref": "rel-busy@1.0.0", "input": {...}, "key": "k-1"}
    {"at": 0.2, "op": "send", "run": "<id>", "event": "ping", "data": {...}, "reference": "r"}
    {"at": 0.3, "op": "cancel", "run": "<id>"}

Each step appends one JSON line to RESULTS.jsonl: the step, whether it succeeded, the
error's type if not, what it returned (a run id, "delivered", a status), and the
`time.time_ns()` before and after it. It uses the same client calls as `aiki start`,
`aiki send` and `aiki cancel`, without paying a process start per call. The loader skips
this module (its name starts with `_`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from aiki_cli import Client
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.errors import AikiError


def act(client: Client, versions: dict[str, Any], step: dict[str, Any]) -> Any:
    if step["op"] == "start":
        version = versions[step["ref"]]
        return client.create(version, step["input"], step.get("key")).id
    if step["op"] == "send":
        return asyncio.run(
            client.send(step["run"], step["event"], step["data"], reference_id=step["reference"])
        )
    if step["op"] == "cancel":
        info = asyncio.run(client.cancel(step["run"]))
        return {"status": info.status, "cancel_requested": info.cancel_requested}
    raise ValueError(f"unknown step {step['op']!r}")


def main(runs: str, workflows: str, plan: str, results: str) -> None:
    client = Client(runs)
    versions = load_workflows(Path(workflows))
    steps = sorted(json.loads(Path(plan).read_text()), key=lambda step: step["at"])
    began = time.monotonic()
    with open(results, "a") as out:
        for step in steps:
            time.sleep(max(0.0, began + step["at"] - time.monotonic()))
            record: dict[str, Any] = {**step, "began_ns": time.time_ns()}
            try:
                record.update(ok=True, value=act(client, versions, step))
            except AikiError as error:
                record.update(ok=False, error=type(error).__name__, message=str(error))
            record["done_ns"] = time.time_ns()
            out.write(json.dumps(record) + "\n")
            out.flush()


if __name__ == "__main__":
    main(*sys.argv[1:5])
