"""Workflows that park: the end-to-end tests of what waits for them (`aiki wait`, `retry
--wait`, `worker --until-idle --include-sleeping`) and of events sent to them.

Task bodies append a line to the file named in their input, so a test counts how often
each one ran by reading that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiki_cli import Run, retry, task, workflow


def _count(input: dict[str, Any], what: str) -> int:
    """Append `what` to the input's `log` file; how many of its lines are `what` now
    (runs of other workflows may share the file)."""
    log = Path(input["log"])
    with log.open("a") as file:
        file.write(what + "\n")
    return log.read_text().splitlines().count(what)


@task(name="after-nap")
def after_nap(input: dict[str, Any]) -> int:
    return _count(input, "after-nap")


@task(name="fails-first", retry=retry.fixed(2, delay=2.0))
def fails_first(input: dict[str, Any]) -> str:
    """Fails its first attempt; a retry 2 s later (so the run parks) succeeds."""
    if _count(input, "fails-first") == 1:
        raise RuntimeError("first attempt fails")
    return "second attempt"


@task(name="fails-unless")
def fails_unless(input: dict[str, Any]) -> str:
    """Fails until the file named `fixed` exists: a bug, then its fix."""
    _count(input, "fails-unless")
    if not Path(input["fixed"]).exists():
        raise RuntimeError("not fixed yet")
    return "fixed"


@workflow(name="e2e-event").v("1.0.0")
async def event_v1(input: Any, run: Run) -> Any:
    """Waits for the event `go` and returns its data."""
    return (await run.wait_for_event("go")).data


@workflow(name="e2e-nap").v("1.0.0")
async def nap_v1(input: dict[str, Any], run: Run) -> int:
    """Sleeps durably for `seconds`, then runs one task."""
    await run.sleep("nap", float(input["seconds"]))
    return await after_nap.start(run, input)


@workflow(name="e2e-retry-soon").v("1.0.0")
async def retry_soon_v1(input: dict[str, Any], run: Run) -> str:
    """Parks in `awaiting_retry` for 2 s after its task's first attempt fails."""
    return await fails_first.start(run, input)


@workflow(name="e2e-fixable").v("1.0.0")
async def fixable_v1(input: dict[str, Any], run: Run) -> str:
    """Fails until the test 'fixes the bug'; `aiki retry` then completes it."""
    return await fails_unless.start(run, input)
