"""Item collector: gather the "item" events sent to a run until none comes for a while.

    wait for "item" ─┬─ an item arrives            → keep it, wait again
                     └─ the quiet period passes    → pack the batch, done

Start a collector, send it items, and let it finish once the senders fall quiet:

    id=$(aiki start item-collector@1.0.0 --input-json '{"batch": "b-1", "quiet_period": "30s"}')
    aiki send "$id" item --data-json '{"sku": "A-1", "quantity": 2}'
    aiki send "$id" item --data-json '{"sku": "B-7", "quantity": 1}' --reference-id line-2
    aiki worker                 # takes the items; 30 quiet seconds later the run completes

Each wait is a durable timer: between items the run is parked in `awaiting_event` and
holds no worker slot, and a restart loses nothing. The quiet period starts again with
every item. Items sent while the run is busy, or before it first waits, are kept and
taken in the order they were sent; a send with a reference id already used is ignored,
so a sender may retry without doubling an item.
"""

from __future__ import annotations

from typing import Any

from aiki_cli import Run, task, workflow

DEFAULT_QUIET_PERIOD = "10m"


@task(name="pack-batch")
def pack_batch(input: dict[str, Any]) -> dict[str, Any]:
    """Total the quantities of the collected items, per SKU."""
    totals: dict[str, int] = {}
    for item in input["items"]:
        totals[item["sku"]] = totals.get(item["sku"], 0) + item.get("quantity", 1)
    return {"batch": input["batch"], "lines": len(input["items"]), "totals": totals}


item_collector = workflow(name="item-collector")


@item_collector.v("1.0.0")
async def collector_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Collect "item" events until `quiet_period` passes without one, then pack them."""
    quiet_period = input.get("quiet_period", DEFAULT_QUIET_PERIOD)
    items: list[dict[str, Any]] = []
    while True:
        event = await run.wait_for_event("item", timeout=quiet_period)
        if event.timed_out:
            break
        items.append(event.data)
    packed = await pack_batch.start(run, {"batch": input["batch"], "items": items})
    return {"items": items, **packed}
