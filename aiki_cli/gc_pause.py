"""Importing aiki without the garbage collector's passes.

Importing pydantic and making aiki's models creates ~30,000 objects that live as long as
the process. Collections while they are made free next to nothing, yet each pass of the
young generations walks them again, at every `aiki` command's start.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def uncollected() -> Iterator[None]:
    """No collection runs inside; what was made meanwhile then joins the oldest
    generation, which the collector walks only now and then, as if it had survived the
    young ones. A program that froze objects (`gc.freeze`) keeps them frozen, and one
    that turned the collector off keeps it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()  # every object now in the oldest generation
        if enabled:
            gc.enable()
