"""Order processing: validate an order, charge the card, then reserve stock or tell the customer.

    validate-order → process-payment ─┬─ paid     → update-inventory
                                      └─ declined → send-failure-notification

Start a run and wait for its result (with no worker running, `--wait` executes it here):

    aiki start order-processing@1.0.0 --input workflows/order.json --wait
    aiki start order-processing@1.0.0 --input workflows/order-declined.json --wait

The input is `{"order": {...}}`; the order has an `id`, a `customer` (`id` and `email`),
`items` (each a `sku`, a whole positive `quantity` and a positive `price`) and a `payment`
card (`{"card": "4242 4242 4242 4242"}`). An invalid order fails the run, and the error
names every problem found.

Pricing: an order whose amount is over 100 (strictly) gets 10% off; an order of exactly
100 pays full price. Amounts are rounded to the cent, half up.

Payments are simulated, with no network: **a card number ending in 0000 is declined**
(e.g. `4000 0000 0000 0000`); every other card is charged. A decline is a business
outcome, not an error: the task returns `{"success": false, "reason": "card_declined"}`,
the workflow notifies the customer, leaves the inventory alone, and completes with
`"success": false`.

Every task is deterministic: ids are hashes of the task's input, so a task re-executed
with the same input returns the same result. Tasks can be sync (run in a thread pool) or
async; this module has both.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiki_cli import Run, task, workflow

DISCOUNT_THRESHOLD = Decimal("100")
DISCOUNT_RATE = Decimal("0.10")
DECLINED_SUFFIX = "0000"
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """A JSON number as an amount of money, rounded to the cent."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def stable_id(prefix: str, *parts: Any) -> str:
    """An id derived from `parts` alone, so the same input always gets the same id."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return f"{prefix}_{digest[:16]}"


def is_positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def card_digits(payment: Any) -> str:
    """The card number's digits ('' if there is none); spaces and dashes are allowed."""
    card = payment.get("card") if isinstance(payment, dict) else None
    if not isinstance(card, str):
        return ""
    digits = card.replace(" ", "").replace("-", "")
    return digits if digits.isdigit() else ""


def item_problems(index: int, item: Any) -> list[str]:
    if not isinstance(item, dict):
        return [f"item {index} is not an object"]
    label = f"item {index} ({item.get('sku') or 'no sku'})"
    problems = [] if item.get("sku") else [f"item {index} has no sku"]
    quantity, price = item.get("quantity"), item.get("price")
    if not (isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0):
        problems.append(f"{label} has quantity {quantity!r}; it must be a whole number above 0")
    if not is_positive_number(price):
        problems.append(f"{label} has price {price!r}; it must be a number above 0")
    return problems


def order_problems(order: dict[str, Any]) -> list[str]:
    """Everything wrong with `order`, each said in a way the caller can fix."""
    problems = [] if order.get("id") else ["no id"]
    customer = order.get("customer")
    if not (isinstance(customer, dict) and customer.get("id") and customer.get("email")):
        problems.append("no customer with an id and an email")
    items = order.get("items")
    if not isinstance(items, list) or not items:
        problems.append("no items")
    else:
        for index, item in enumerate(items, start=1):
            problems.extend(item_problems(index, item))
    if not 12 <= len(card_digits(order.get("payment"))) <= 19:
        problems.append("no payment card (payment.card: 12 to 19 digits)")
    return problems


@task(name="validate-order")
def validate_order(input: dict[str, Any]) -> dict[str, Any]:
    """Check the order and price it: the amount is the sum of quantity * price."""
    order = input.get("order") if isinstance(input, dict) else None
    if not isinstance(order, dict):
        raise ValueError('the input must be {"order": {...}}')
    problems = order_problems(order)
    if problems:
        label = f"order {order['id']}" if order.get("id") else "the order"
        raise ValueError(f"{label} is invalid: {'; '.join(problems)}")
    amount = sum(money(item["price"]) * item["quantity"] for item in order["items"])
    return {
        "order_id": order["id"],
        "customer": order["customer"],
        "items": [{"sku": item["sku"], "quantity": item["quantity"]} for item in order["items"]],
        "amount": float(money(amount)),
        # Inputs and results are journaled in plain files: keep only what payment needs.
        "card_last4": card_digits(order["payment"])[-4:],
    }


@task(name="process-payment")
async def process_payment(input: dict[str, Any]) -> dict[str, Any]:
    """Apply the discount (10% over 100) and charge the card; cards ending 0000 decline."""
    amount = money(input["amount"])
    discount = money(amount * DISCOUNT_RATE) if amount > DISCOUNT_THRESHOLD else money(0)
    charged = amount - discount
    await asyncio.sleep(0.001)  # stands in for the call to the payment provider
    outcome = {
        "amount": float(amount),
        "discount": float(discount),
        "card_last4": input["card_last4"],
    }
    if input["card_last4"] == DECLINED_SUFFIX:
        return {"success": False, "reason": "card_declined", **outcome}
    payment_id = stable_id("pay", input["order_id"], str(charged), input["card_last4"])
    return {"success": True, "payment_id": payment_id, "charged": float(charged), **outcome}


@task(name="update-inventory")
def update_inventory(input: dict[str, Any]) -> dict[str, Any]:
    """Reserve the order's items in the warehouse."""
    reserved = [{"sku": item["sku"], "quantity": item["quantity"]} for item in input["items"]]
    return {
        "reservation_id": stable_id("res", input["order_id"], reserved),
        "reserved": reserved,
    }


@task(name="send-failure-notification")
async def send_failure_notification(input: dict[str, Any]) -> dict[str, Any]:
    """Tell the customer why their order did not go through."""
    await asyncio.sleep(0.001)  # stands in for the call to the email provider
    return {
        "notification_id": stable_id("ntf", input["order_id"], input["reason"]),
        "channel": "email",
        "to": input["email"],
        "template": "payment-failed",
        "reason": input["reason"],
    }


order_processing = workflow(name="order-processing")


@order_processing.v("1.0.0")
async def order_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Validate, charge, then reserve the stock or notify the customer of the decline."""
    order = await validate_order.start(run, input)
    payment = await process_payment.start(
        run,
        {
            "order_id": order["order_id"],
            "amount": order["amount"],
            "card_last4": order["card_last4"],
        },
    )
    if payment["success"]:
        return await fulfil(run, order, payment)
    return await notify_decline(run, order, payment)


async def fulfil(run: Run, order: dict[str, Any], payment: dict[str, Any]) -> dict[str, Any]:
    """The paid path: reserve the items."""
    inventory = await update_inventory.start(
        run, {"order_id": order["order_id"], "items": order["items"]}
    )
    return {
        "success": True,
        "order_id": order["order_id"],
        "amount": payment["amount"],
        "discount": payment["discount"],
        "charged": payment["charged"],
        "payment_id": payment["payment_id"],
        "reservation_id": inventory["reservation_id"],
    }


async def notify_decline(
    run: Run, order: dict[str, Any], payment: dict[str, Any]
) -> dict[str, Any]:
    """The declined path: tell the customer; the inventory is left alone."""
    run.logger.info("order %s: payment declined (%s)", order["order_id"], payment["reason"])
    notification = await send_failure_notification.start(
        run,
        {
            "order_id": order["order_id"],
            "email": order["customer"]["email"],
            "reason": payment["reason"],
        },
    )
    return {
        "success": False,
        "order_id": order["order_id"],
        "reason": payment["reason"],
        "notification_id": notification["notification_id"],
    }
