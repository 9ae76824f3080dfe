"""Canonical JSON and the content address of a task call (SPEC §3)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

# Made once: `json.dumps` with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN: equal values give equal text."""
    return _CANONICAL.encode(value)


def input_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON of `value`, in hex."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


class Address(NamedTuple):
    """Where a task call's recorded results live: the task's name and its input's hash."""

    task: str
    hash: str

    def __str__(self) -> str:
        return f"{self.task}#{self.hash[:12]}"


def address(task: str, value: Any) -> Address:
    return Address(task, input_hash(value))
