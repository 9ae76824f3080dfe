"""Archives of runs: a tar.gz of each run's plain files, as the file store keeps them.

    <id>/run.json           the start record
    <id>/journal.jsonl      the journal, one entry a line, byte for byte
    <id>/inbox/<key>.json   mail not yet read
    <id>/cancel|pause|wake  requests not yet acted on

Any store's runs archive the same way (from `RunExport`), and `aiki restore` reads one
back into any store. An archive is written whole and flushed to the disk before it is
given its name, so a name on disk is an archive complete; an existing one is never
overwritten. Reading one extracts nothing: members are read in memory and checked.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from .. import oslayer
from ..errors import BadInput
from ..model.entry import parse_entry
from ..model.export import RunExport
from ..model.mail import REQUESTS, Mail
from ..model.runinfo import RunSpec
from ..values.ids import RUN_ID

MAX_MEMBER = 1 << 30  # a member larger than this is no run's file


def plain_files(run: RunExport) -> dict[str, bytes]:
    """The run's files, by their name under `<id>/`."""
    files = {
        "run.json": run.spec.model_dump_json(indent=2).encode() + b"\n",
        "journal.jsonl": b"".join(line + b"\n" for line in run.journal_lines()),
    }
    files.update({f"inbox/{mail.key}.json": mail.model_dump_json().encode() for mail in run.mail})
    files.update(dict.fromkeys(run.requests, b""))
    return files


def size(run: RunExport) -> int:
    """The bytes of the run's plain files."""
    return sum(len(data) for data in plain_files(run).values())


def write_archive(path: Path, runs: Iterable[RunExport], now: datetime) -> None:
    """Write the runs to the new archive `path`, flushed to the disk before it appears.
    `BadInput` when `path` exists or its folder does not."""
    if not path.parent.is_dir():
        raise BadInput(f"cannot write the archive {path}: its folder does not exist")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(temp, "xb") as file:
            with tarfile.open(fileobj=file, mode="w:gz") as tar:
                for run in runs:
                    _add_run(tar, run, now)
            file.flush()
            oslayer.flush_file(file.fileno())
        try:
            os.link(temp, path)  # never over an existing archive
        except FileExistsError:
            raise BadInput(f"{path} exists; choose a new name for the archive") from None
        oslayer.flush_dir(path.parent)
    finally:
        temp.unlink(missing_ok=True)


def _add_run(tar: tarfile.TarFile, run: RunExport, now: datetime) -> None:
    for name, data in plain_files(run).items():
        member = tarfile.TarInfo(f"{run.spec.id}/{name}")
        member.size, member.mode, member.mtime = len(data), 0o600, int(now.timestamp())
        tar.addfile(member, io.BytesIO(data))


def read_archive(path: Path) -> list[RunExport]:
    """The runs in the archive `path`, in the order they were written. `BadInput` when it
    cannot be read or holds anything but runs' files."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            files = _members(tar, path)
    except FileNotFoundError:
        raise BadInput(
            f"no archive {path}; pass the .tar.gz that `aiki gc --archive` wrote"
        ) from None
    except (tarfile.TarError, OSError, EOFError) as error:
        raise BadInput(f"{path} is not a readable tar.gz archive ({error})") from None
    return [_run(path, run_id, run_files) for run_id, run_files in files.items()]


def _members(tar: tarfile.TarFile, path: Path) -> dict[str, dict[str, bytes]]:
    files: dict[str, dict[str, bytes]] = {}
    for member in tar:
        if member.isdir():
            continue
        run_id, _, name = member.name.partition("/")
        if not (member.isfile() and RUN_ID.fullmatch(run_id) and _known(name)):
            raise BadInput(f"{path} is not an aiki archive: it holds {member.name!r}")
        if member.size > MAX_MEMBER:
            raise BadInput(f"{path}: {member.name} is too large for a run's file")
        data = tar.extractfile(member)
        assert data is not None  # a regular file always has data
        files.setdefault(run_id, {})[name] = data.read()
    return files


def _known(name: str) -> bool:
    if name in ("run.json", "journal.jsonl") or name in REQUESTS:
        return True
    folder, _, letter = name.partition("/")
    return folder == "inbox" and letter.endswith(".json") and "/" not in letter


def _run(path: Path, run_id: str, files: dict[str, bytes]) -> RunExport:
    where = f"{path}: run {run_id}"
    try:
        spec = RunSpec.model_validate_json(files["run.json"])
        journal = [parse_entry(line) for line in _lines(files.get("journal.jsonl", b""))]
        letters = [
            Mail.model_validate_json(data)
            for name, data in files.items()
            if name.startswith("inbox/")
        ]
    except KeyError:
        raise BadInput(f"{where} has no run.json") from None
    except ValidationError as error:
        raise BadInput(f"{where} cannot be read ({error.errors()[0]['msg']})") from None
    if spec.id != run_id:
        raise BadInput(f"{where} holds run.json of run {spec.id}")
    letters.sort(key=lambda mail: (mail.sent_at, mail.order, mail.key))
    requests = sorted(name for name in files if name in REQUESTS)
    return RunExport(spec=spec, journal=journal, mail=letters, requests=requests)


def _lines(data: bytes) -> list[bytes]:
    """The journal's lines, split at newlines alone (an entry never holds one)."""
    return [line for line in data.split(b"\n") if line]
