"""Small workflows for the fuzzed command line (tests/reliability/test_fuzz_cli.py): each
ends at once however it is started, so a fuzzed `start --wait` cannot hang.

    rel-cli-echo@1.0.0     one task that returns the input as it came
    rel-cli-typed@1.0.0    a pydantic input model: anything else is refused at start
    rel-cli-fail@1.0.0     one task that raises: `start --wait` exits 1
    rel-cli-events@1.0.0   waits for "ping", whose data has a model (checked at send)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from aiki_cli import Run, task, workflow


class Order(BaseModel):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)


class Ping(BaseModel):
    n: int


@task(name="rel-cli-echo-task")
def echo_task(input: Any) -> Any:
    return input


@task(name="rel-cli-fail-task")
def fail_task(input: Any) -> None:
    raise ValueError("rel-cli-fail always fails")


@workflow(name="rel-cli-echo").v("1.0.0")
async def echo_v1(input: Any, run: Run) -> Any:
    return await echo_task.start(run, input)


@workflow(name="rel-cli-typed").v("1.0.0", input=Order)
async def typed_v1(input: Order, run: Run) -> dict[str, Any]:
    return {"sku": input.sku, "quantity": input.quantity}


@workflow(name="rel-cli-fail").v("1.0.0")
async def fail_v1(input: Any, run: Run) -> None:
    await fail_task.start(run, input)


@workflow(name="rel-cli-events").v("1.0.0", events={"ping": Ping})
async def events_v1(input: Any, run: Run) -> int:
    ping = await run.wait_for_event("ping")
    return int(ping.data.n)
