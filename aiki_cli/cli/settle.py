"""The value of a client call that waits on nothing, without an event loop.

The client's reads and its commands on one run (`get`, `list`, `history`, `cancel`, …)
are coroutines that never suspend: the stores are synchronous. A command that makes only
such calls takes their value here and so never imports asyncio, which alone costs several
times Python's own start-up. Calls that do wait (`wait`, executing a run) go through
`asyncio.run`.
"""

from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Suspended(RuntimeError):
    """A client call that was taken as one that waits on nothing did wait."""


def settled(call: Coroutine[Any, Any, T]) -> T:
    """The value `call` returns, run to its end here; `Suspended` if it waits instead."""
    try:
        call.send(None)
    except StopIteration as done:
        value: T = done.value
        return value
    call.close()
    raise Suspended(f"{call!r} waited on an event loop, where none runs")
