"""Reminders: a run that starts later, and a run that sleeps between two messages.

    reminder   (pending until its delay has passed) → send-message
    follow-up  send-message → sleep `after` (3 days) → send-message

A delayed start stays `pending` until it is due, then runs like any other:

    aiki start reminder@1.0.0 --delay 5m --input-json '{"user": "ada", "text": "Stand-up!"}'

A durable sleep parks the run in `sleeping`: it holds no worker slot and survives any
restart of the worker or the machine. `aiki wake` ends it early (the sleep then returns
True, and the follow-up says so), `aiki pause` keeps the run from going on even once
the sleep is due, and `aiki resume` lets it go on:

    id=$(aiki start follow-up@1.0.0 --input-json '{"user": "ada", "after": "10s"}')
    aiki worker --until-idle    # sends the first message; the run sleeps
    aiki wake "$id" && aiki worker --until-idle
"""

from __future__ import annotations

from typing import Any

from aiki_cli import Run, task, workflow

DEFAULT_FOLLOW_UP_AFTER = "3d"


@task(name="send-message")
def send_message(input: dict[str, Any]) -> dict[str, Any]:
    """Send a message to a user (simulated: nothing leaves the machine)."""
    return {"to": input["user"], "text": input["text"], "delivered": True}


reminder = workflow(name="reminder")


@reminder.v("1.0.0")
async def reminder_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Send one reminder (start it with a delay to send it later)."""
    sent: dict[str, Any] = await send_message.start(
        run, {"user": input["user"], "text": input["text"]}
    )
    return sent


follow_up = workflow(name="follow-up")


@follow_up.v("1.0.0")
async def follow_up_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Welcome the user, sleep `after`, then ask how it is going."""
    user = input["user"]
    await send_message.start(run, {"user": user, "text": f"Welcome, {user}!"})
    woken = await run.sleep("until-follow-up", input.get("after", DEFAULT_FOLLOW_UP_AFTER))
    text = "Sooner than planned: how is it going?" if woken else "How is it going?"
    await send_message.start(run, {"user": user, "text": text})
    return {"user": user, "woken_early": woken}
