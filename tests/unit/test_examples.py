"""The example workflows in `workflows/`, run end to end in-process on the memory store."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aiki_cli import Client, InputInvalid, RunInfo, RunStatus, Worker
from aiki_cli.authoring.loader import load_workflows, tasks_of

EXAMPLES = Path(__file__).parents[2] / "workflows"
WORKFLOWS = load_workflows(EXAMPLES)


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


async def execute(client: Client, ref: str, input: Any) -> RunInfo:
    handle = await WORKFLOWS[ref].start(client, input)
    await Worker(client, [WORKFLOWS[ref]]).run(until_idle=True)
    return await handle.get_status()


def run_to_end(ref: str, input: Any) -> RunInfo:
    """Start one run of `ref` and execute it until nothing is left to do."""
    return asyncio.run(execute(Client(":memory:"), ref, input))


def task_names(info: RunInfo) -> list[str]:
    return [call.name for call in info.tasks]


def order_of(price: float, quantity: int = 4, card: str = "4242424242424242") -> dict[str, Any]:
    return {
        "order": {
            "id": "ord-test",
            "customer": {"id": "cus-1", "email": "ada@example.com"},
            "items": [{"sku": "SKU-1", "quantity": quantity, "price": price}],
            "payment": {"card": card},
        }
    }


def test_the_examples_define_the_versions_the_spec_names() -> None:
    assert {"order-processing@1.0.0", "user-onboarding@1.0.0", "user-onboarding@2.0.0"} <= set(
        WORKFLOWS
    )


def test_the_example_order_is_paid_with_the_discount_and_its_items_reserved() -> None:
    info = run_to_end("order-processing@1.0.0", example("order.json"))

    assert info.status == RunStatus.COMPLETED, info.error
    assert task_names(info) == ["validate-order", "process-payment", "update-inventory"]
    assert info.result["success"] is True
    assert info.result["amount"] == 131.99
    assert info.result["discount"] == 13.2
    assert info.result["charged"] == 118.79
    assert info.result["payment_id"].startswith("pay_")
    assert info.result["reservation_id"].startswith("res_")


@pytest.mark.parametrize(
    ("price", "discount", "charged"),
    [(20, 0.0, 80.0), (25, 0.0, 100.0), (25.01, 10.0, 90.04), (50, 20.0, 180.0)],
    ids=["under-100", "exactly-100", "just-over-100", "200"],
)
def test_the_discount_is_ten_percent_strictly_over_100(
    price: float, discount: float, charged: float
) -> None:
    info = run_to_end("order-processing@1.0.0", order_of(price))

    assert info.status == RunStatus.COMPLETED, info.error
    assert (info.result["discount"], info.result["charged"]) == (discount, charged)


def test_a_declined_card_notifies_the_customer_and_leaves_the_inventory_alone() -> None:
    info = run_to_end("order-processing@1.0.0", example("order-declined.json"))

    assert info.status == RunStatus.COMPLETED, info.error
    assert task_names(info) == ["validate-order", "process-payment", "send-failure-notification"]
    assert "update-inventory" not in task_names(info)
    assert info.result["success"] is False
    assert info.result["reason"] == "card_declined"
    assert info.result["notification_id"].startswith("ntf_")


def test_only_cards_ending_in_0000_are_declined() -> None:
    declined = run_to_end("order-processing@1.0.0", order_of(10, card="4000 0000 0000 0000"))
    paid = run_to_end("order-processing@1.0.0", order_of(10, card="4000 0000 0000 0001"))

    assert declined.result["success"] is False
    assert paid.result["success"] is True


def test_the_same_order_gets_the_same_ids_every_time() -> None:
    async def twice() -> tuple[RunInfo, RunInfo]:
        client = Client(":memory:")
        first = await execute(client, "order-processing@1.0.0", example("order.json"))
        second = await execute(client, "order-processing@1.0.0", example("order.json"))
        return first, second

    first, second = asyncio.run(twice())

    assert first.id != second.id
    assert first.result == second.result


def broken(change: str) -> dict[str, Any]:
    """The example order with one thing wrong with it."""
    order: dict[str, Any] = copy.deepcopy(example("order.json"))
    body = order["order"]
    if change == "no-items":
        body["items"] = []
    elif change == "zero-quantity":
        body["items"][0]["quantity"] = 0
    elif change == "negative-price":
        body["items"][1]["price"] = -12.99
    elif change == "no-customer":
        del body["customer"]
    elif change == "no-card":
        body["payment"] = {}
    return order


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("no-items", "order ord-1001 is invalid: no items"),
        ("zero-quantity", "item 1 (KB-MECH-01) has quantity 0"),
        ("negative-price", "item 2 (CBL-USBC-2M) has price -12.99"),
        ("no-customer", "no customer"),
        ("no-card", "no payment card"),
    ],
)
def test_an_invalid_order_fails_the_run_naming_the_problem(change: str, named: str) -> None:
    info = run_to_end("order-processing@1.0.0", broken(change))

    assert info.status == RunStatus.FAILED
    assert info.error is not None
    assert "validate-order" in info.error.message
    assert "ValueError" in info.error.message
    assert named in info.error.message
    assert task_names(info) == ["validate-order"]


def test_an_input_without_an_order_fails_the_run_saying_what_is_expected() -> None:
    info = run_to_end("order-processing@1.0.0", {"items": []})

    assert info.status == RunStatus.FAILED
    assert info.error is not None
    assert '{"order": {...}}' in info.error.message


def test_onboarding_2_adds_create_profile_to_1() -> None:
    v1 = run_to_end("user-onboarding@1.0.0", example("user.json"))
    v2 = run_to_end("user-onboarding@2.0.0", example("user.json"))

    assert v1.status == v2.status == RunStatus.COMPLETED
    assert task_names(v1) == ["validate-user", "create-account", "send-welcome-email"]
    assert task_names(v2) == [
        "validate-user",
        "create-account",
        "create-profile",
        "send-welcome-email",
    ]
    assert "profile_id" not in v1.result
    assert v2.result["profile_id"].startswith("prf_")
    assert v1.result["account_id"] == v2.result["account_id"]


def test_onboarding_tidies_the_email_through_the_model() -> None:
    info = run_to_end("user-onboarding@2.0.0", example("user.json"))

    assert info.result["email"] == "ada.lovelace@example.com"


def test_onboarding_2_refuses_a_bad_email_at_start_and_stores_nothing() -> None:
    async def attempt() -> list[RunInfo]:
        client = Client(":memory:")
        with pytest.raises(InputInvalid, match="not an email address"):
            await WORKFLOWS["user-onboarding@2.0.0"].start(
                client, {"email": "ada-at-example.com", "name": "Ada"}
            )
        return await client.list()

    assert asyncio.run(attempt()) == []


def test_onboarding_1_fails_a_bad_email_at_its_first_task() -> None:
    info = run_to_end("user-onboarding@1.0.0", {"email": "ada@localhost", "name": "Ada"})

    assert info.status == RunStatus.FAILED
    assert info.error is not None
    assert "not an email address" in info.error.message


def test_onboarding_refuses_a_disposable_mail_domain() -> None:
    info = run_to_end("user-onboarding@2.0.0", {"email": "ada@mailinator.com", "name": "Ada"})

    assert info.status == RunStatus.FAILED
    assert info.error is not None
    assert "disposable" in info.error.message
    assert task_names(info) == ["validate-user"]


def test_each_version_lists_only_the_tasks_it_calls() -> None:
    v1, v2 = WORKFLOWS["user-onboarding@1.0.0"], WORKFLOWS["user-onboarding@2.0.0"]
    assert "create-profile" not in tasks_of(v1)
    assert set(tasks_of(v2)) - set(tasks_of(v1)) == {"create-profile"}
    # order-processing reaches two of its tasks through helper functions
    assert tasks_of(WORKFLOWS["order-processing@1.0.0"]) == [
        "process-payment",
        "send-failure-notification",
        "update-inventory",
        "validate-order",
    ]
