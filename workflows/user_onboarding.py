"""User onboarding, in two versions that live side by side.

    1.0.0: validate-user → create-account → send-welcome-email
    2.0.0: validate-user → create-account → create-profile → send-welcome-email

A run is pinned to the version it started on for its whole life, so runs of 1.0.0 still
in flight keep running 1.0.0's code after 2.0.0 ships; new runs pick their version:

    aiki start user-onboarding@2.0.0 --input workflows/user.json --wait
    aiki start user-onboarding@1.0.0 --input workflows/user.json --wait

The input is `{"email": "...", "name": "..."}`, described by the pydantic model
`OnboardingInput`, which shows the two places a model can check a value:

- 2.0.0 declares it as the workflow's input model, so a bad input is refused when the run
  is started (`aiki start` exits with code 2 and nothing is stored);
- 1.0.0 takes a plain dict and hands it to `validate-user`, whose input model is the same
  class, so a bad input fails the run when it calls `validate-user`.

Either way the code receives an `OnboardingInput` with the email lowercased and the name's
spaces tidied. Emails are checked with a deliberately simple rule (something@domain.tld);
a real service proves an address by sending mail to it. Disposable-mail domains are
refused by `validate-user`.

Tasks simulate their work with no network and derive their ids from their input, so a
task re-executed with the same input returns the same result. Sync tasks run in a thread
pool, async ones in the event loop; this module has both.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from pydantic import BaseModel, field_validator

from aiki_cli import Run, task, workflow

DISPOSABLE_DOMAINS = frozenset({"mailinator.com", "trashmail.com", "yopmail.com"})


class OnboardingInput(BaseModel):
    """Who is signing up."""

    email: str
    name: str

    @field_validator("email")
    @classmethod
    def _email_looks_like_one(cls, value: str) -> str:
        email = value.strip().lower()
        local, _, domain = email.partition("@")
        labels = domain.split(".")
        if not local or len(labels) < 2 or not all(labels) or " " in email:
            raise ValueError(f"{value!r} is not an email address like ada@example.com")
        return email

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        name = " ".join(value.split())
        if not name:
            raise ValueError("the name must not be blank")
        return name


def stable_id(prefix: str, *parts: str) -> str:
    """An id derived from `parts` alone, so the same input always gets the same id."""
    return f"{prefix}_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}"


@task(name="validate-user", input=OnboardingInput, output=OnboardingInput)
def validate_user(user: OnboardingInput) -> OnboardingInput:
    """Refuse what the model cannot see: sign-ups from disposable-mail domains."""
    domain = user.email.partition("@")[2]
    if domain in DISPOSABLE_DOMAINS:
        raise ValueError(f"{domain} is a disposable-mail domain; sign up with a lasting address")
    return user


@task(name="create-account", input=OnboardingInput)
async def create_account(user: OnboardingInput) -> dict[str, Any]:
    """Create the account (simulated: the id is derived from the email)."""
    await asyncio.sleep(0.001)  # stands in for the call to the accounts service
    return {"account_id": stable_id("acc", user.email), "email": user.email, "name": user.name}


@task(name="create-profile")
def create_profile(input: dict[str, Any]) -> dict[str, Any]:
    """Create the public profile that 2.0.0 added, with default preferences."""
    initials = "".join(word[0] for word in input["name"].split()[:2]).upper()
    return {
        "profile_id": stable_id("prf", input["account_id"]),
        "display_name": input["name"],
        "avatar": f"initials:{initials}",
        "preferences": {"newsletter": False, "theme": "system"},
    }


@task(name="send-welcome-email")
async def send_welcome_email(input: dict[str, Any]) -> dict[str, Any]:
    """Send the welcome email (simulated: nothing leaves the machine)."""
    await asyncio.sleep(0.001)  # stands in for the call to the email provider
    first_name = input["name"].split()[0]
    return {
        "message_id": stable_id("msg", input["email"], input["template"]),
        "to": input["email"],
        "subject": f"Welcome aboard, {first_name}!",
        "template": input["template"],
    }


user_onboarding = workflow(name="user-onboarding")


@user_onboarding.v("1.0.0")
async def onboarding_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Validate the user, create their account, welcome them."""
    user = await validate_user.start(run, input)
    account = await create_account.start(run, user)
    email = await send_welcome_email.start(
        run, {"email": user.email, "name": user.name, "template": "welcome-v1"}
    )
    return {
        "success": True,
        "account_id": account["account_id"],
        "email": user.email,
        "welcome_message_id": email["message_id"],
    }


@user_onboarding.v("2.0.0", input=OnboardingInput)
async def onboarding_v2(input: OnboardingInput, run: Run) -> dict[str, Any]:
    """As 1.0.0, plus a profile created before the welcome email, which links to it."""
    user = await validate_user.start(run, input)
    account = await create_account.start(run, user)
    profile = await create_profile.start(
        run, {"account_id": account["account_id"], "name": user.name}
    )
    email = await send_welcome_email.start(
        run, {"email": user.email, "name": profile["display_name"], "template": "welcome-v2"}
    )
    return {
        "success": True,
        "account_id": account["account_id"],
        "profile_id": profile["profile_id"],
        "email": user.email,
        "welcome_message_id": email["message_id"],
    }
