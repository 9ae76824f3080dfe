"""`aiki status ID`'s panel off a terminal, drawn without rich, for the front door: only
when it is exactly what `views.run_panel` prints through rich, which is the case when
every line fits the width unwrapped, in plain ASCII (and `…`), with no text that rich
reads as markup or an emoji code, and no traceback. Anything else raises `Unsure`: the
app draws it. `tests/e2e/test_front_door.py` compares the two byte for byte.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from ..model.plain import Record, Unsure

LAST_TASKS = 20  # views.LAST_TASKS
_TERMINAL = ("completed", "failed", "cancelled")
_PLAIN = re.compile(r"[ -~…]*")  # printable ASCII, and the `…` of a cut value
_MARKUP = re.compile(r"\[[a-z#/@]")  # what rich's markup would take for a tag
_EMOJI = re.compile(r":(\S*?)(?:-(?:emoji|text))?:")  # rich's emoji codes
_SAFE_EMOJI = re.compile(r"\d\d")  # `:33:` in a time: no emoji has such a name


def panel(doc: Record, width: int, *, all_tasks: bool = False) -> str:
    """The panel `views.run_panel` draws for the run `doc` (its `status --json`), as
    printed at `width` columns; `Unsure` when rich would draw it otherwise."""
    body = _grid(_facts(doc))
    tasks = doc["tasks"] if all_tasks else doc["tasks"][-LAST_TASKS:]
    hidden = len(doc["tasks"]) - len(tasks)
    if any(task["status"] in ("failed", "retrying") and _traced(task["error"]) for task in tasks):
        raise Unsure("a task's traceback")
    if doc.get("error") and doc["error"].get("traceback") and doc["error"]["type"] != "TaskFailed":
        raise Unsure("the workflow's traceback")
    if tasks:
        if hidden:
            body.append(_text(f"… {hidden} earlier tasks (--all)"))
        body += _table(tasks, hidden + 1)
    inner = max(len(line) for line in body)
    title = f" run {doc['id']} "
    if inner + 4 > width or len(title) > inner:
        raise Unsure("wider than the console: rich would wrap it")
    top = "╭─" + title + "─" * (inner + 2 - 2 - len(title)) + "─╮"
    lines = [top, *(f"│ {line.ljust(inner)} │" for line in body), "╰" + "─" * (inner + 2) + "╯"]
    return "\n".join(lines) + "\n"


def _traced(error: Any) -> bool:
    return bool(error and error.get("traceback"))


def _facts(doc: Record) -> list[tuple[str, str]]:
    """`views._facts`: each row's label and text."""
    rows = [("run", doc["id"]), ("workflow", f"{doc['workflow']}@{doc['version']}")]
    note = " (cancel requested)" if doc["cancel_requested"] else ""
    rows.append(("status", doc["status"] + note))
    if doc["waiting_for"] is not None:
        rows.append(("waiting for", _waiting(doc["waiting_for"])))
    if (progress := doc["progress"]) is not None:
        share = "" if progress["fraction"] is None else f" ({progress['fraction']:.0%})"
        rows.append(("progress", progress["message"] + share))
    if doc["due_at"] is not None and doc["status"] not in _TERMINAL:
        rows.append(("due", _when(doc["due_at"])))
    if doc["attempt"] > 1:
        rows.append(("attempt", str(doc["attempt"])))
    rows += [("created", _when(doc["created_at"])), ("updated", _when(doc["updated_at"]))]
    if doc["parent_id"]:
        rows.append(("parent", doc["parent_id"]))
    if fork := doc.get("forked_from"):
        rows.append(("forked from", f"run {fork['run_id']} at {fork['task']}#{fork['call']}"))
    if doc["children"]:
        rows.append(("children", ", ".join(doc["children"])))
    if doc["recoveries"]:
        rows.append(("recoveries", str(doc["recoveries"])))
    rows.append(("input", _short_json(doc["input"])))
    if doc["status"] == "completed":
        rows.append(("result", _short_json(doc["result"])))
    if error := doc.get("error"):
        rows.append(("error", f"{error['type']}: {error['message']}"))
    # The status and the error are rich `Text`s, the others strings rich reads as markup.
    return [(label, _text(value, markup=label not in ("status", "error"))) for label, value in rows]


def _waiting(wait: Record) -> str:
    """`WaitingFor.describe`."""
    if wait["kind"] == "child":
        return f"child run {wait['child']}"
    if wait["kind"] == "retry":
        return f"retry of task {wait['name']}" if wait["name"] else "retry of the workflow"
    if wait["kind"] == "start":
        return "delayed start"
    return f"{wait['kind']} {wait['name']}"


def _grid(rows: list[tuple[str, str]]) -> list[str]:
    """`Table.grid(padding=(0, 2))` of two columns, the first as wide as its widest label."""
    label_width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(label_width)}  {value}".rstrip() for label, value in rows]


def _table(tasks: list[Record], first: int) -> list[str]:
    """`views.tasks_table`: its title, its header and a row per call; columns two apart,
    `#`, attempts and duration aligned right."""
    header = ["#", "task", "status", "attempts", "duration", "started"]
    rows = [header]
    for number, task in enumerate(tasks, start=first):
        duration = "-" if task["duration_ms"] is None else f"{task['duration_ms']:.1f} ms"
        started = "-" if task["started_at"] is None else _when(task["started_at"])
        cells = [str(number), task["name"], task["status"], str(task["attempts"]), duration]
        rows.append([*(_text(cell) for cell in cells), started])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in (0, 3, 4) else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return ["tasks", *lines]


def _short_json(value: Any, limit: int = 200) -> str:
    """`views.short_json`."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(moment: str) -> str:
    """`views.when`: local time with its offset, to the second."""
    return datetime.fromisoformat(moment).astimezone().isoformat(sep=" ", timespec="seconds")


def _text(value: str, *, markup: bool = True) -> str:
    """`value` as rich prints it, when that is `value` itself: plain ASCII on one line,
    nothing rich reads as markup or an emoji code; else `Unsure`."""
    if not _PLAIN.fullmatch(value):
        raise Unsure("text rich would measure or lay out otherwise")
    if markup and (_MARKUP.search(value) or _unsafe_emoji(value)):
        raise Unsure("text rich would read as markup or an emoji code")
    return value


def _unsafe_emoji(value: str) -> bool:
    return any(not _SAFE_EMOJI.fullmatch(match[1]) for match in _EMOJI.finditer(value))
