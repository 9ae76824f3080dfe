"""Stock check: ask three warehouses for their stock of a SKU at the same time.

    ┌─ count-stock (warehouse a) ─┐
    ├─ count-stock (warehouse b) ─┼─→ {"a": 1, "b": 2, "c": 3}
    └─ count-stock (warehouse c) ─┘

    aiki start stock-check@1.0.0 --input-json '{"sku": "A-1"}' --wait

`asyncio.gather` runs the three task calls concurrently, and each is journaled on its
own: if the worker dies after two of them finished, the run resumes by running only the
third. Calls with distinct inputs are told apart by their input, so the order in which
they finish does not matter on replay.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiki_cli import Run, task, workflow

WAREHOUSES = ("a", "b", "c")
# The simulated warehouses' stock of every SKU.
STOCK = {"a": 1, "b": 2, "c": 3}


@task(name="count-stock")
async def count_stock(input: dict[str, Any]) -> int:
    """How many units of the SKU one warehouse holds (simulated)."""
    await asyncio.sleep(0.01)  # stands in for the call to the warehouse's system
    return STOCK[input["warehouse"]]


stock_check = workflow(name="stock-check")


@stock_check.v("1.0.0")
async def stock_check_v1(input: dict[str, Any], run: Run) -> dict[str, int]:
    """Each warehouse's stock of `sku`, asked of all three at once."""
    counts = await asyncio.gather(
        *(count_stock.start(run, {"sku": input["sku"], "warehouse": w}) for w in WAREHOUSES)
    )
    return dict(zip(WAREHOUSES, counts, strict=True))
