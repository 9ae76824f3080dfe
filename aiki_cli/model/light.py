"""A run's `status --json` document (and its `list --json` row) folded from the plain JSON
of its start record and journal, without pydantic: what the front door (`cli/door.py`)
prints for the commands scripts poll, at a fraction of the models' start-up.

It is the fold of `journal.summarize` and `waiting.Waits`, and `RunInfo.document`, over
the records `plain` reads (which raises `Unsure` for anything it does not read exactly as
the models do). A property test over generated journals proves the two folds give the
same documents (`tests/unit/test_light_fold.py`).
"""

from __future__ import annotations

from collections import defaultdict, deque

from .plain import Record, Unsure, parsed, read_entry, read_spec

__all__ = ["Fold", "Unsure", "Waits", "document", "read_entry", "read_spec"]

WORKFLOW_RETRY = "workflow retry"  # waiting.WORKFLOW_RETRY
_TERMINAL = frozenset({"completed", "failed", "cancelled"})


def document(
    spec: Record, entries: list[Record], *, cancel_requested: bool, full: bool = True
) -> Record:
    """`summarize(spec, entries, …).document(full=full)`, over checked records."""
    fold = Fold(spec)
    for entry in entries:
        fold.feed(entry)
    return fold.document(cancel_requested, full)


Calls = defaultdict[tuple[str, str], deque[Record]]


class Fold:
    """`journal.Fold` over records: the run's state as a dict in `RunInfo`'s field order."""

    def __init__(self, spec: Record) -> None:
        self.info: Record = {
            "id": spec["id"],
            "workflow": spec["workflow"],
            "version": spec["version"],
            "status": "pending",
            "input": spec["input"],
            "result": None,
            "error": None,
            "created_at": spec["created_at"],
            "updated_at": spec["created_at"],
            "attempt": 1,
            "recoveries": 0,
            "cancel_requested": False,
            "idempotency_key": spec["idempotency_key"],
            "parent_id": spec["parent_id"],
            "forked_from": spec["forked_from"],
            "due_at": spec["not_before"],
            "waiting_for": None,
            "progress": None,
            "children": [],
            "tasks": [],
        }
        self.open_calls: Calls = defaultdict(deque)
        self.retrying: Calls = defaultdict(deque)
        self.waits = Waits()

    def feed(self, entry: Record) -> None:
        info, kind = self.info, entry["type"]
        info["updated_at"] = entry["at"]
        self.waits.note(entry)
        if kind == "status":
            if entry["attempt"] > info["attempt"]:
                self._retry_failed_calls()
            _apply_status(info, entry)
            if entry["to"] == "running":
                self.open_calls.clear()
        elif kind == "recovered":
            info["recoveries"] = entry["count"]
        elif kind == "child_started":
            info["children"].append(entry["child"])
        elif kind == "progress":
            info["progress"] = {k: entry[k] for k in ("message", "fraction", "at")}
        elif kind == "task_started":
            self._start_call(entry)
        elif kind in ("task_completed", "task_failed"):
            self._finish_call(entry)

    def _start_call(self, entry: Record) -> None:
        address = (entry["task"], entry["hash"])
        if self.retrying[address]:
            call = self.retrying[address].popleft()
            call["attempts"] += 1
        else:
            call = _new_call(entry)
            self.info["tasks"].append(call)
        call.update(status="running", started_at=entry["at"])
        call.update(finished_at=None, duration_ms=None, error=None)
        self.open_calls[address].append(call)

    def _retry_failed_calls(self) -> None:
        self.retrying.clear()
        for call in self.info["tasks"]:
            if call["status"] in ("failed", "retrying"):
                self.retrying[call["name"], call["hash"]].append(call)

    def _finish_call(self, entry: Record) -> None:
        address = (entry["task"], entry["hash"])
        open_calls = self.open_calls[address]
        if open_calls:
            call = open_calls.popleft()
        else:
            call = _new_call(entry)
            self.info["tasks"].append(call)
        failed = entry["type"] == "task_failed"
        call["status"] = "failed" if failed else "completed"
        call["finished_at"] = entry["at"]
        if call["started_at"] is not None:
            spent = parsed(entry["at"]) - parsed(call["started_at"])
            call["duration_ms"] = round(spent.total_seconds() * 1000, 3)
        if failed:
            call["error"] = entry["error"]
            if entry["retry_at"] is not None:
                call["status"] = "retrying"
                self.retrying[address].append(call)

    def document(self, cancel_requested: bool, full: bool) -> Record:
        """`RunInfo.document(full=full)` of the state folded so far."""
        info = self.info
        info["waiting_for"] = self.waits.of(info["status"], info["due_at"])
        info["cancel_requested"] = cancel_requested and info["status"] not in _TERMINAL
        skipped = {"tasks"} if full else {"input", "result", "tasks", "children"}
        doc = {key: value for key, value in info.items() if key not in skipped}
        if full:
            doc["tasks"] = info["tasks"]
        if info["status"] != "completed":
            doc.pop("result", None)
        if info["forked_from"] is None:
            doc.pop("forked_from")
        if info["error"] is None:
            doc.pop("error")
        else:
            doc["error"] = {k: v for k, v in info["error"].items() if v is not None}
        return doc


def _new_call(entry: Record) -> Record:
    return {
        "name": entry["task"],
        "hash": entry["hash"],
        "status": "running",
        "attempts": entry["attempt"],
        "started_at": None,
        "finished_at": None,
        "duration_ms": None,
        "error": None,
    }


def _apply_status(info: Record, entry: Record) -> None:
    info["status"], info["attempt"], info["due_at"] = entry["to"], entry["attempt"], entry["until"]
    if entry["to"] == "completed":
        info["result"] = entry["result"]
    if entry["error"] is not None:
        info["error"] = entry["error"]
    elif entry["to"] in ("completed", "pending"):
        info["error"] = None
    if entry["to"] == "pending" and entry["from"] in ("failed", "cancelled"):
        info["recoveries"] = 0
    for call in info["tasks"]:
        if call["status"] == "running":
            call["status"] = "interrupted"


class Waits:
    """`waiting.Waits` over records."""

    def __init__(self) -> None:
        self.sleeps: dict[tuple[str, int], Record] = {}
        self.events: dict[str, list[Record]] = {}
        self.children: dict[str, Record] = {}
        self.retries: dict[tuple[str, str], Record] = {}
        self.workflow_retry: Record | None = None

    def note(self, entry: Record) -> None:
        kind = entry["type"]
        if kind == "sleep_started":
            self.sleeps[entry["name"], entry["seq"]] = entry
        elif kind == "sleep_ended":
            self.sleeps.pop((entry["name"], entry["seq"]), None)
        elif kind in ("event_wait", "event_received", "event_timeout"):
            self._note_event(entry)
        elif kind == "child_started":
            self.children[entry["child"]] = entry
        elif kind == "child_ended":
            self.children.pop(entry["child"], None)
        elif kind in ("task_started", "task_completed", "task_failed"):
            self.retries.pop((entry["task"], entry["hash"]), None)
            if kind == "task_failed" and entry["retry_at"] is not None:
                self.retries[entry["task"], entry["hash"]] = entry
        elif kind == "status":
            self.workflow_retry = entry if entry["reason"] == WORKFLOW_RETRY else None

    def _note_event(self, entry: Record) -> None:
        waits = self.events.setdefault(entry["name"], [])
        if entry["type"] == "event_wait":
            waits.append(entry)
        elif entry["type"] == "event_received":
            del waits[:1]
        else:
            waits[:] = [wait for wait in waits if wait["seq"] != entry["seq"]]

    def of(self, status: str, due: str | None) -> Record | None:
        """`Waits.of`, as the dict `WaitingFor` dumps to."""
        if status == "sleeping" and self.sleeps:
            sleep = min(self.sleeps.values(), key=lambda started: parsed(started["until"]))
            return _waiting("sleep", sleep["name"], sleep["until"])
        if status == "awaiting_event":
            waits = [wait for open_waits in self.events.values() for wait in open_waits]
            if not waits:
                return None
            first = min(waits, key=lambda wait: parsed(wait["at"]))
            return _waiting("event", first["name"], first["until"])
        if status == "awaiting_child" and self.children:
            return _waiting("child", child=next(iter(self.children)))
        if status == "awaiting_retry":
            if self.workflow_retry is not None or not self.retries:
                return _waiting("retry", due=due)
            failed = min(self.retries.values(), key=lambda e: parsed(e["retry_at"] or e["at"]))
            return _waiting("retry", failed["task"], failed["retry_at"])
        if status == "pending" and due is not None:
            return _waiting("start", due=due)
        return None


def _waiting(
    kind: str, name: str | None = None, due: str | None = None, child: str | None = None
) -> Record:
    return {"kind": kind, "name": name, "due": due, "child": child}
