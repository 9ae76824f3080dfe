"""A run as one document, for moving it between stores and archives (`aiki export`).

    {"format": 1, "spec": <run.json>, "journal": [<entry>, ...], "mail": [...], "requests": [...]}

`spec` is the run's start record, `journal` its entries as their journal lines hold them
(each line of the file store's `journal.jsonl` is one of these objects, byte for byte),
`mail` the letters not yet read, oldest first, and `requests` what was asked of the run
and not yet done (cancel, pause, wake). Reference ids of events already received are in
the journal (`event_received`), so a store importing the run knows them again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .entry import Entry, EventReceived, dump_entry
from .journal import summarize
from .mail import MAIL_KEY, Mail, Request
from .runinfo import RunSpec
from .status import RunStatus

EXPORT_FORMAT: Literal[1] = 1


class RunExport(BaseModel):
    """One run, whole: what `Store.export_run` gives and `Store.import_run` takes."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    format: Literal[1] = EXPORT_FORMAT
    spec: RunSpec
    journal: list[Entry] = Field(default_factory=list)
    mail: list[Mail] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_are_names(self) -> RunExport:
        """Mail keys name files in a store: refuse one that is no key (`../x`, say)."""
        keys = [mail.key for mail in self.mail] + self.received_keys()
        bad = next((key for key in keys if not MAIL_KEY.fullmatch(key)), None)
        if bad is not None:
            raise ValueError(f"{bad[:40]!r} is not a mail key (letters, digits, _ and -)")
        return self

    def document(self) -> dict[str, Any]:
        """The JSON document: the spec as `run.json` holds it, entries as journal lines do."""
        return {
            "format": self.format,
            "spec": self.spec.model_dump(mode="json"),
            "journal": [json.loads(line) for line in self.journal_lines()],
            "mail": [mail.model_dump(mode="json") for mail in self.mail],
            "requests": sorted(self.requests),
        }

    def to_json(self) -> str:
        return json.dumps(self.document(), ensure_ascii=False, indent=2) + "\n"

    def journal_lines(self) -> list[bytes]:
        """The journal's lines, without newlines, as the file store writes them."""
        return [dump_entry(entry) for entry in self.journal]

    def received_keys(self) -> list[str]:
        """The keys of events received with a reference id: a repeated send is refused."""
        return [
            entry.key
            for entry in self.journal
            if isinstance(entry, EventReceived) and entry.reference_id is not None
        ]

    def with_id(self, run_id: str) -> RunExport:
        """The same run under another id, without its idempotency key (which stays with
        the run that has it)."""
        spec = self.spec.model_copy(update={"id": run_id, "idempotency_key": None})
        return self.model_copy(update={"spec": spec})

    def placement(self) -> tuple[bool, datetime | None]:
        """Where the run belongs in a store's indexes: whether it is queued (it is pending
        or running, or mail or requests wait for it), and when its timer is due (a parked
        run's due time; None when it has none)."""
        info = summarize(self.spec, self.journal)
        waiting = bool(self.mail or self.requests)
        queued = info.status in (RunStatus.PENDING, RunStatus.RUNNING) or waiting
        due = info.due_at if info.status.parked and info.status != RunStatus.PAUSED else None
        return queued, due
