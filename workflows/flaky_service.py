"""Retries: a task retried on its own, and a whole workflow retried.

    exchange-rate  fetch-rate ✗ ─5s─ fetch-rate ✗ ─5s─ fetch-rate ✓      (task retry)
    settlement     attempt 1: compute-totals ✓ → post-to-ledger ✗         (run fails…
                   ─10s─ attempt 2: compute-totals (replayed) → post-to-ledger ✓  …and retries)

    aiki start exchange-rate@1.0.0 --input-json '{"pair": "EUR/USD", "amount": 100}' --wait
    aiki start settlement@1.0.0 --input-json '{"day": "2026-01-31", "amounts": [5, 7]}' --wait

The services are simulated and fail on purpose: the rates service is down for its first
two calls of each currency pair, the ledger for its first call of each day.

`fetch-rate` has its own policy, `retry.fixed(3, delay=5)`: the call is tried up to three
times, five seconds apart, inside one attempt of the run. Each failed try is journaled
(`aiki history` shows it with the time of the next try) and `aiki status` shows the
task's attempts. While it waits for the next try the run is parked in `awaiting_retry`
and holds no worker slot.

`settlement@1.0.0` is retried as a whole, `retry.fixed(2, delay=10)`: when its code fails
(here because `post-to-ledger`, which has no retry of its own, failed), the run waits ten
seconds and starts its second attempt under the same run id. Tasks that completed in the
first attempt are replayed from the journal, not run again; only the failed one reruns.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiki_cli import Run, retry, task, workflow

RATES = {"EUR/USD": 1.08, "GBP/USD": 1.27, "USD/JPY": 151.2}


class FlakyService:
    """A simulated remote service, unavailable for the first `outages` calls of each key."""

    def __init__(self, name: str, outages: int) -> None:
        self.name = name
        self.outages = outages
        self.calls: Counter[str] = Counter()

    def call(self, key: str) -> None:
        self.calls[key] += 1
        if self.calls[key] <= self.outages:
            raise ConnectionError(f"{self.name} is unavailable (call {self.calls[key]} for {key})")

    def reset(self) -> None:
        self.calls.clear()


rates_service = FlakyService("the rates service", outages=2)
ledger_service = FlakyService("the ledger", outages=1)


@task(name="fetch-rate", retry=retry.fixed(3, delay=5))
def fetch_rate(input: dict[str, Any]) -> float:
    """The exchange rate of a currency pair, from the (flaky) rates service."""
    rates_service.call(input["pair"])
    return RATES[input["pair"]]


exchange_rate = workflow(name="exchange-rate")


@exchange_rate.v("1.0.0")
async def exchange_rate_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Convert `amount` at the current rate of `pair`."""
    rate = await fetch_rate.start(run, {"pair": input["pair"]})
    return {"pair": input["pair"], "rate": rate, "converted": round(input["amount"] * rate, 2)}


@task(name="compute-totals")
def compute_totals(input: dict[str, Any]) -> dict[str, Any]:
    """Add up the day's amounts."""
    return {"day": input["day"], "count": len(input["amounts"]), "total": sum(input["amounts"])}


@task(name="post-to-ledger")
def post_to_ledger(input: dict[str, Any]) -> dict[str, Any]:
    """Book the day's total in the (flaky) ledger; no retry policy of its own."""
    ledger_service.call(input["day"])
    return {"entry": f"ledger-{input['day']}", "total": input["total"]}


settlement = workflow(name="settlement")


@settlement.v("1.0.0", retry=retry.fixed(2, delay=10))
async def settlement_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Total the day and book it; the whole run is tried twice if it fails."""
    totals = await compute_totals.start(run, input)
    posted = await post_to_ledger.start(run, totals)
    return {**totals, **posted, "attempt": run.attempt}
