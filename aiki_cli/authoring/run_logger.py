"""`run.logger`: a workflow's logger, tagged with the run's id and quiet while the run
replays its history, so that each line is logged once however often the code runs."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from .replay import ReplayBook


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """`run.logger`: tagged with the run id, and quiet while the run replays its history."""

    def __init__(self, run_id: str, book: ReplayBook) -> None:
        super().__init__(logging.getLogger("aiki.run"), {"run_id": run_id})
        # The run's id and replay book, not the run: a run referring to itself through its
        # logger could be freed only by the garbage collector, and with it all it holds.
        self._run_id = run_id
        self._book = book

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[{self._run_id}] {msg}", kwargs

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self._book.replaying:
            super().log(level, msg, *args, **kwargs)
