"""Firing schedules: starting the runs a schedule owes, under its overlap policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .schedule import Schedule
from .workflow import WorkflowVersion

if TYPE_CHECKING:
    from .client import Client


async def fire(
    client: Client, schedule: Schedule, registry: Mapping[str, WorkflowVersion]
) -> Schedule:
    """Start the runs `schedule` owes at the client's now; store it with its next due time."""
    raise NotImplementedError("schedules are being written")
