"""Start-up cost: rich, yaml and croniter are imported only where they are used, and
aiki's pydantic models build their validators only when first used.

Each check runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiki_cli.cli.running import GC_THRESHOLD

LAZY = ["croniter", "rich", "yaml"]
# With these set, rich treats a pipe as a terminal.
TERMINAL_HINTS = ("FORCE_COLOR", "TTY_COMPATIBLE")
REPORT = f"\nimport json, sys\nprint(json.dumps(sorted(set(sys.modules) & set({LAZY!r}))))\n"

FLOW = """
from aiki_cli import Run, workflow

hello = workflow(name="hello")


@hello.v("1.0.0")
async def hello_v1(input: dict, run: Run) -> dict:
    return input
"""

WORKER = """
import sys
from aiki_cli.cli.app import main

sys.argv = ["aiki", "--runs-dir", "runs", "worker", "--until-idle"]
try:
    main()
except SystemExit as done:
    assert done.code == 0, done.code
"""


def _loaded(code: str, cwd: Path) -> list[str]:
    """Which of LAZY are imported once the Python `code` has run in `cwd`."""
    return list(_printed(code + REPORT, cwd))


def _printed(code: str, cwd: Path) -> Any:
    """The JSON value the Python `code` printed last, run in a fresh interpreter in `cwd`."""
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_HINTS}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_package_and_the_cli_loads_none_of_them(tmp_path: Path) -> None:
    assert _loaded("import aiki_cli, aiki_cli.cli.app", tmp_path) == []


def test_a_worker_logging_to_a_pipe_loads_none_of_them(tmp_path: Path) -> None:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "hello.py").write_text(FLOW)
    assert _loaded(WORKER, tmp_path) == []


def test_each_is_loaded_where_it_is_used(tmp_path: Path) -> None:
    (tmp_path / "aiki.yaml").write_text("runs_dir: elsewhere\n")
    code = (
        "from aiki_cli import config\n"
        "from aiki_cli.model import schedule\n"
        "from aiki_cli.cli import views\n"
        "assert config.resolve().runs_dir.name == 'elsewhere'\n"
        "schedule.check_cron('0 9 * * *')\n"
        "views.note('noted')\n"
    )
    assert _loaded(code, tmp_path) == LAZY


BUILT = """
import json
import pydantic
import aiki_cli, aiki_cli.cli.app

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

built = [m.__name__ for m in models(pydantic.BaseModel) if m.__module__.startswith("aiki_cli")
         and m.__pydantic_complete__]
print(json.dumps(built))
"""


def test_importing_the_package_and_the_cli_builds_no_model(tmp_path: Path) -> None:
    assert _printed(BUILT, tmp_path) == []


FROZEN = """
import gc, json, sys
from aiki_cli.cli.app import main

sys.argv = ["aiki", "--runs-dir", "runs", "list"]
try:
    main()
except SystemExit as done:
    assert done.code == 0, done.code
left = len(gc.get_objects())  # what the last collection, at exit, would walk
print(json.dumps([gc.get_freeze_count(), gc.get_threshold()[0], left]))
"""


COLLECTED = """
import gc, json
from aiki_cli.cli.door import app_main

passes = []
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info["generation"]))
app_main()
print(json.dumps([passes, gc.isenabled()]))
"""


def test_the_app_is_imported_without_a_collection(tmp_path: Path) -> None:
    passes, enabled = _printed(COLLECTED, tmp_path)
    assert passes == [] and enabled


def test_the_cli_leaves_what_it_loaded_out_of_garbage_collection(tmp_path: Path) -> None:
    """Collections, the last one at exit, do not walk the modules loaded at start-up,
    and come rarely: every GC_THRESHOLD objects made and not freed, not every 700. At
    exit, what the command loaded and made since is out of the last collection too."""
    frozen, threshold, left = _printed(FROZEN, tmp_path)
    assert frozen > 10_000
    assert left < 100
    assert threshold == GC_THRESHOLD > 700
