"""A process that races on a store's worker roster (`workers/`), for
test_worker_registration.py.

    python -m tests.integration._roster_actor register STORE NAME COUNT
        registers COUNT workers one after another, each under a new id, and checks from
        a second handle on the store that it is listed while registered; prints one JSON
        line: {"registered": n, "unseen": [...], "refused": [...]}
    python -m tests.integration._roster_actor poll STORE STOP
        calls `live_workers()` until the file STOP exists; prints {"polls": n}
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from aiki_cli.store.files import FileStore


def register(root: Path, name: str, count: int) -> dict[str, object]:
    store, observer = FileStore(root), FileStore(root)
    unseen: list[str] = []
    refused: list[str] = []
    for number in range(count):
        worker_id = f"{name}-{number}"
        try:
            with store.register_worker(worker_id, {"id": worker_id, "pid": os.getpid()}):
                if worker_id not in {info["id"] for info in observer.live_workers()}:
                    unseen.append(worker_id)
                if random.random() < 0.5:
                    os.sched_yield()
        except RuntimeError as error:
            refused.append(f"{worker_id}: {error}")
    return {"registered": count, "unseen": unseen, "refused": refused}


def poll(root: Path, stop: Path) -> dict[str, object]:
    store = FileStore(root)
    polls = 0
    while not stop.exists():
        store.live_workers()
        polls += 1
    return {"polls": polls}


def main(argv: list[str]) -> None:
    if argv[0] == "register":
        result = register(Path(argv[1]), argv[2], int(argv[3]))
    else:
        result = poll(Path(argv[1]), Path(argv[2]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
