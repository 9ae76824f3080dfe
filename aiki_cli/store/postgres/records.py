"""Rows read back as records: a run's spec, its journal lines, a letter, each refused as
damage (or a newer format) in the words the file store uses for its files."""

from __future__ import annotations

from pydantic import ValidationError

from ...errors import RunDamaged
from ...model.entry import ENTRY_TYPES, Entry, parse_entry
from ...model.runinfo import FORMAT, RunSpec
from ..base import Mail
from ..files.formats import newer_entry, newer_spec


def spec_of(run_id: str, where: str, text: str) -> RunSpec:
    """The run's spec from its stored text. `RunDamaged`; `NewerFormat`."""
    data = text.encode()
    try:
        spec = RunSpec.model_validate_json(data)
    except ValidationError as error:
        newer = newer_spec(run_id, where, data, FORMAT)
        raise (newer or RunDamaged(run_id, f"{where} cannot be read", path=where)) from error
    if spec.format > FORMAT:
        newer = newer_spec(run_id, where, data, FORMAT)
        if newer is not None:
            raise newer
    if spec.id != run_id:
        raise RunDamaged(run_id, f"{where} holds run {spec.id!r}", path=where)
    return spec


def entries_of(run_id: str, where: str, lines: list[str]) -> list[Entry]:
    """The journal's entries from its stored lines. `RunDamaged`; `NewerFormat`."""
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entries.append(parse_entry(line))
        except ValidationError as error:
            data = line.encode()
            newer = newer_entry(run_id, where, data, number, ENTRY_TYPES)
            detail = f"{where} line {number} is not a journal entry"
            raise (newer or RunDamaged(run_id, detail, path=where, line=number)) from error
    return entries


def letter_of(run_id: str, where: str, text: str) -> Mail:
    try:
        return Mail.model_validate_json(text)
    except ValidationError:
        raise RunDamaged(run_id, f"{where} is not a letter", path=where) from None
