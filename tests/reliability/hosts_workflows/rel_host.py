"""The workflow of the several-hosts tests (tests/reliability/test_hosts.py).

    rel-host@1.0.0   three tasks: `first` (done before any host dies), `held` (begun, then
                     held until the test's go file exists, so a host dies holding the run),
                     `last`; returns the three results, each naming its execution

`held` reports its beginning as a call of its own (`held-begun`), so the test knows which
process holds each run and when a surviving host took it over.
"""

from __future__ import annotations

from typing import Any

from aiki_cli import Run, task, workflow
from tests import probe

work = task(name="host-work", exec=probe.work)


def held_body(input: dict[str, Any]) -> dict[str, Any]:
    probe.work({**input, "call": f"{input['call']}-begun"})
    probe.wait_for_go()
    return probe.work(input)


held = task(name="host-held", exec=held_body)

host = workflow(name="rel-host")


@host.v("1.0.0")
async def host_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    key = input["key"]
    first = await work.start(run, {"key": key, "call": "first"})
    middle = await held.start(run, {"key": key, "call": "held"})
    last = await work.start(run, {"key": key, "call": "last"})
    return {"key": key, "tokens": [first["token"], middle["token"], last["token"]]}
