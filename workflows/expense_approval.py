"""Expense approval: file a claim, wait out a cooling-off hour, then wait for a manager.

    file-expense → sleep 1h → wait for "approval" (2 days) ─┬─ approved  → pay-expense
                                                             ├─ rejected  → reject-expense
                                                             └─ no answer → escalate-expense

Start a claim, then answer it (the run may already be waiting, or not yet: an approval
sent early is kept until the run asks for it):

    id=$(aiki start expense-approval@1.0.0 --input-json \
        '{"expense_id": "exp-7", "employee": "ada", "amount": 120.5}')
    aiki send "$id" approval --data-json '{"approved": true, "approver": "grace"}' \
        --reference-id approval-exp-7
    aiki worker                 # files it now, and pays once the cooling-off hour has passed

The approval's data is checked against the `Approval` model when it is sent: data that
does not fit is refused (exit 2) and nothing is stored, so the run never sees it. The
workflow receives an `Approval` instance. The reference id makes a resent approval (a
retried webhook, say) count once. With no answer within two days the claim goes to
finance; the run holds no worker slot while it sleeps or waits.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from aiki_cli import Run, task, workflow

COOLING_OFF = "1h"
ANSWER_WITHIN = "2d"


class Approval(BaseModel):
    """A manager's answer to an expense claim."""

    approved: bool
    approver: str = Field(min_length=1)
    note: str = ""


@task(name="file-expense")
def file_expense(input: dict[str, Any]) -> dict[str, Any]:
    """Record the claim; amounts must be above zero."""
    if not input["amount"] > 0:
        raise ValueError(f"expense {input['expense_id']}: the amount must be above 0")
    return {"expense_id": input["expense_id"], "employee": input["employee"], "filed": True}


@task(name="pay-expense")
def pay_expense(input: dict[str, Any]) -> dict[str, Any]:
    """Pay the employee back (simulated)."""
    return {"expense_id": input["expense_id"], "paid": input["amount"], "to": input["employee"]}


@task(name="reject-expense")
def reject_expense(input: dict[str, Any]) -> dict[str, Any]:
    """Tell the employee the claim was rejected, and why."""
    return {"expense_id": input["expense_id"], "rejected_by": input["approver"]}


@task(name="escalate-expense")
def escalate_expense(input: dict[str, Any]) -> dict[str, Any]:
    """Hand a claim nobody answered to the finance team."""
    return {"expense_id": input["expense_id"], "escalated_to": "finance"}


expense_approval = workflow(name="expense-approval")


@expense_approval.v("1.0.0", events={"approval": Approval})
async def expense_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """File, cool off, ask for approval; pay, reject or escalate by the answer."""
    await file_expense.start(run, input)
    await run.sleep("cooling-off", COOLING_OFF)
    answer = await run.wait_for_event("approval", timeout=ANSWER_WITHIN)
    if answer.timed_out:
        escalated = await escalate_expense.start(run, {"expense_id": input["expense_id"]})
        return {"outcome": "escalated", **escalated}
    approval: Approval = answer.data
    if approval.approved:
        paid = await pay_expense.start(run, input)
        return {"outcome": "paid", "approver": approval.approver, **paid}
    rejected = await reject_expense.start(
        run, {"expense_id": input["expense_id"], "approver": approval.approver}
    )
    return {"outcome": "rejected", "note": approval.note, **rejected}
