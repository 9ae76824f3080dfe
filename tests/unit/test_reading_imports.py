"""What a reading command loads (issue 19): `aiki status` and `aiki list`, which a CI
script may call in a loop, import no event loop, no workflow code, no worker and no
engine beyond its commands; with --json, no rich either. Through the console script's
front door (`cli/door.py`), `status ID --json`, `status ID` (off a terminal, when its
panel can be drawn exactly), `list --json --limit 20` and `--help` load none of typer,
click, pydantic or rich either. A timing would be noise on a shared
machine; the modules a command loads are what its start-up costs.

Each command runs in a fresh interpreter, which then prints the modules it holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiki_cli import Client, workflow

# Loaded by none of the reading commands: the event loop and what comes with it, the
# authoring API and the worker (which import user code), the engine's execution.
NEVER = [
    "aiki_cli.authoring",
    "aiki_cli.cli.follow",
    "aiki_cli.engine.execution",
    "aiki_cli.worker",
    "asyncio",
    "concurrent.futures",
    "croniter",
    "ssl",
    "yaml",
]
RICH = ["rich"]

COMMAND = """
import json, sys
from aiki_cli.cli.app import main

sys.argv = ["aiki", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as done:
    assert done.code == 0, done.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


# The console script: `aiki` itself, through its front door.
DOOR = COMMAND.replace("aiki_cli.cli.app", "aiki_cli.cli.door")
SLOW = ["typer", "click", "pydantic", "pydantic_core", "rich", "yaml", "asyncio"]


def _loaded(args: list[str], cwd: Path, command: str = COMMAND) -> set[str]:
    """The modules (and their packages) loaded once `aiki *args` has run in `cwd`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIKI_")}
    env["COLUMNS"] = "100"  # `--help` at 80 columns or more, wherever the tests run
    done = subprocess.run(
        [sys.executable, "-c", command, json.dumps(args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.splitlines()[-1]))


def _among(loaded: set[str], names: list[str]) -> list[str]:
    """Those of `names` loaded, themselves or any module inside them."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in loaded)]


@pytest.fixture
def run_id(tmp_path: Path) -> str:
    """A completed-looking store: one pending run of `hello@1.0.0` in `tmp_path/runs`."""
    hello = workflow(name="hello")

    @hello.v("1.0.0")
    async def hello_v1(input: dict[str, int], run: object) -> dict[str, int]:
        return input

    return Client(tmp_path / "runs").create(hello_v1, {"k": 1}).id


@pytest.mark.parametrize(
    "args",
    [
        ["status", "RUN", "--json"],
        ["list", "--json", "--limit", "20"],
        ["history", "RUN", "--json"],
    ],
)
def test_a_reading_command_as_json_loads_no_event_loop_workflow_code_or_rich(
    tmp_path: Path, run_id: str, args: list[str]
) -> None:
    loaded = _loaded([run_id if a == "RUN" else a for a in args], tmp_path)
    assert "aiki_cli.store.files" in loaded  # it did read the store
    assert _among(loaded, NEVER + RICH) == []


@pytest.mark.parametrize("args", [["status", "RUN"], ["list"]])
def test_a_reading_command_for_people_loads_rich_and_still_no_event_loop(
    tmp_path: Path, run_id: str, args: list[str]
) -> None:
    loaded = _loaded([run_id if a == "RUN" else a for a in args], tmp_path)
    assert _among(loaded, RICH) == RICH
    assert _among(loaded, NEVER) == []


@pytest.mark.parametrize(
    "args",
    [
        ["status", "RUN", "--json"],
        ["status", "RUN"],
        ["list", "--json", "--limit", "20"],
        ["--help"],
    ],
)
def test_the_commands_scripts_poll_load_no_typer_pydantic_or_rich_through_the_front_door(
    tmp_path: Path, run_id: str, args: list[str]
) -> None:
    loaded = _loaded([run_id if a == "RUN" else a for a in args], tmp_path, DOOR)
    assert _among(loaded, NEVER + SLOW) == []
    assert "aiki_cli.cli.app" not in loaded


def test_the_front_door_guard_sees_what_it_hands_to_the_app(tmp_path: Path, run_id: str) -> None:
    """`status ID --json --all` is not the door's: the app runs, typer and pydantic with it."""
    loaded = _loaded(["status", run_id, "--json", "--all"], tmp_path, DOOR)
    assert {"typer", "pydantic", "aiki_cli.cli.app"} <= set(
        _among(loaded, [*SLOW, "aiki_cli.cli.app"])
    )


def test_the_guard_sees_a_command_that_executes_a_run(tmp_path: Path) -> None:
    """The same probe on `worker --until-idle` finds the event loop and the worker: what
    the reading commands lack above is absent because they do not load it."""
    flows = tmp_path / "workflows"
    flows.mkdir()
    (flows / "hello.py").write_text(
        "from aiki_cli import workflow\nhello = workflow(name='hello')\n"
        "@hello.v('1.0.0')\nasync def v1(input, run):\n    return input\n"
    )
    loaded = _loaded(["worker", "--until-idle"], tmp_path)
    assert {"asyncio", "aiki_cli.worker", "aiki_cli.authoring"} <= set(_among(loaded, NEVER))
