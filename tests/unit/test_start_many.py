"""`Client.start_many`: one pending run per input, in order; every input is checked before
anything is written, so a bad one starts none and is named by its place in the batch."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from aiki_cli import Client, Run, workflow
from aiki_cli.errors import BatchInputInvalid, InputInvalid
from aiki_cli.model.status import RunStatus
from aiki_cli.store.memory import MemoryStore


class Order(BaseModel):
    sku: str


orders = workflow(name="orders")


@orders.v("1.0.0", input=Order)
async def orders_v1(input: Order, run: Run) -> str:
    return input.sku


def _started(client: Client, inputs: list[Any]) -> list[str]:
    return [handle.id for handle in asyncio.run(client.start_many(orders_v1, inputs))]


def test_each_input_is_a_pending_run_in_the_order_given() -> None:
    client = Client(MemoryStore())
    ids = _started(client, [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}])
    infos = [asyncio.run(client.get(run_id)) for run_id in ids]
    assert [info.input for info in infos] == [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]
    assert {info.status for info in infos} == {RunStatus.PENDING}
    assert sorted(client.store.ready_runs()) == sorted(ids)
    assert len(set(ids)) == 3


def test_a_bad_input_is_named_by_its_place_and_starts_none() -> None:
    client = Client(MemoryStore())
    with pytest.raises(BatchInputInvalid) as raised:
        _started(client, [{"sku": "a"}, {"sku": "b"}, {"nope": 1}, {"sku": "d"}])
    assert raised.value.index == 2
    assert isinstance(raised.value.error, InputInvalid) and raised.value.exit_code == 2
    assert raised.value.message.startswith("input 3 of the batch: ")
    assert list(client.store.list_runs()) == []


def test_a_delay_applies_to_every_run_of_the_batch() -> None:
    client = Client(MemoryStore())
    batch = asyncio.run(client.start_many(orders_v1, [{"sku": "a"}, {"sku": "b"}], delay="1m"))
    specs = [client.store.read_run(handle.id)[0] for handle in batch]
    assert {spec.not_before for spec in specs} == {specs[0].created_at + timedelta(minutes=1)}
