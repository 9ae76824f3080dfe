"""The file store's schedules: one JSON file each in `schedules/`, with its timer record
beside it (`<id>.timer`, naming its marker in `timers/`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from ...errors import BadInput
from ...model.schedule import SCHEDULE_ID, Schedule
from ..base import Timer
from .indexes import Indexes
from .syncio import atomic_write, read_file
from .unwritable import writes


class ScheduleFiles:
    def __init__(self, root: Path, location: str, indexes: Indexes) -> None:
        self.root = root
        self.location = location  # what `writes` names when the disk refuses
        self.indexes = indexes

    def path(self, schedule_id: str) -> Path:
        if not re.fullmatch(SCHEDULE_ID, schedule_id):
            raise BadInput(f"{schedule_id!r} is not a schedule id")
        return self.root / "schedules" / f"{schedule_id}.json"

    @writes
    def save(self, schedule: Schedule) -> None:
        """The timer first when there is one, so that a schedule on file is never active
        without it: a save killed in between leaves at most a marker that fires early."""
        self.indexes.lay_out()
        path = self.path(schedule.id)
        timer = None if schedule.paused else Timer(schedule.next_due, "schedule", schedule.id)
        if timer is not None:
            self.indexes.replace_timer(path.with_suffix(".timer"), timer)
        atomic_write(path, schedule.model_dump_json(indent=2).encode() + b"\n")
        if timer is None:
            self.indexes.replace_timer(path.with_suffix(".timer"), None)

    @writes
    def rearm(self) -> list[str]:
        active = (schedule for schedule in self._readable() if not schedule.paused)
        rearmed = []
        for schedule in active:
            record = self.path(schedule.id).with_suffix(".timer")
            if not self.indexes.armed(record):
                self.indexes.replace_timer(
                    record, Timer(schedule.next_due, "schedule", schedule.id)
                )
                rearmed.append(schedule.id)
        return rearmed

    def _readable(self) -> Iterator[Schedule]:
        """The schedules on file, passing over those that cannot be read (doctor names them)."""
        for path in sorted((self.root / "schedules").glob("*.json")):
            with contextlib.suppress(OSError, ValidationError):
                yield Schedule.model_validate_json(path.read_bytes())

    def get(self, schedule_id: str) -> Schedule | None:
        try:
            return Schedule.model_validate_json(read_file(self.path(schedule_id)))
        except (BadInput, FileNotFoundError):  # an id no schedule can have, or none saved
            return None

    def all(self) -> list[Schedule]:
        folder = self.root / "schedules"
        if not folder.is_dir():
            return []
        return [Schedule.model_validate_json(read_file(p)) for p in sorted(folder.glob("*.json"))]

    @writes
    def remove(self, schedule_id: str) -> None:
        path = self.path(schedule_id)
        self.indexes.replace_timer(path.with_suffix(".timer"), None)
        path.unlink(missing_ok=True)
