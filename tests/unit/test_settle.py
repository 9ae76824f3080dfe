"""`settled`: a client call that waits on nothing gives its value without an event loop;
one that does wait is refused, never half-run."""

from __future__ import annotations

import asyncio

import pytest

from aiki_cli.cli.settle import Suspended, settled


async def _value(x: int) -> int:
    return x * 2


async def _raises() -> None:
    raise LookupError("no such run")


def test_a_call_that_waits_on_nothing_gives_its_value() -> None:
    assert settled(_value(21)) == 42


def test_its_error_comes_out_as_it_was_raised() -> None:
    with pytest.raises(LookupError, match="no such run"):
        settled(_raises())


def test_a_call_that_waits_is_refused_and_closed() -> None:
    ran_on: list[str] = []

    async def waits() -> None:
        await asyncio.sleep(0)  # yields to a loop: none runs here
        ran_on.append("after")

    with pytest.raises(Suspended):
        settled(waits())
    assert ran_on == []
