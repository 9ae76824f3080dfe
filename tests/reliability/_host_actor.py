"""What runs on one "host" of tests/reliability/test_hosts.py, inside its network namespace:

_host_actor.py worker URL     a worker executing rel-host runs until it is killed
_host_actor.py start URL N    start N runs of rel-host@1.0.0; print their ids as JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiki_cli import Client, Worker
from aiki_cli.authoring.loader import load_workflows

WORKFLOWS = Path(__file__).parent / "hosts_workflows"


def main(action: str, url: str, *args: str) -> None:
    versions = load_workflows(WORKFLOWS)
    client = Client(url)
    if action == "worker":
        asyncio.run(Worker(client, versions.values(), concurrency=8, poll_interval=0.1).run())
    else:
        version = versions["rel-host@1.0.0"]
        ids = [client.create(version, {"key": f"run-{n}"}).id for n in range(int(args[0]))]
        print(json.dumps(ids))


if __name__ == "__main__":
    main(*sys.argv[1:])
