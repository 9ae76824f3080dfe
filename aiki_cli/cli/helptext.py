"""`aiki --help` as the app prints it at 80 columns or more, which the front door
(`door.py`) prints without building the app. Written by `python -m aiki_cli.cli.helptext`;
`tests/e2e/test_front_door.py` fails when the app's help changed and this was not."""

from __future__ import annotations

HELP = (
    "Usage: aiki [OPTIONS] COMMAND [ARGS]...\n"
    "\n"
    "  Durable workflows for Python, stored in plain files.\n"
    "\n"
    "Options:\n"
    "  --runs-dir DIR       Run store directory [env AIKI_RUNS_DIR; default runs/]\n"
    "  --workflows-dir DIR  Workflow modules directory [env AIKI_WORKFLOWS_DIR;\n"
    "                       default workflows/]\n"
    "  --store LOCATION     Run store: a directory or a postgresql:// URL [env\n"
    "                       AIKI_STORE; default runs/]\n"
    "  --version            Print aiki's version.\n"
    "  -h, --help           Show this message and exit.\n"
    "\n"
    "Commands:\n"
    "  start      Start a run.\n"
    "  status     Show a run: its status, what it waits for, its result or...\n"
    "  cancel     Cancel a run; a run being executed stops at its next task...\n"
    "  send       Send an event to a run; it is kept until the run waits for it.\n"
    "  pause      Pause a run: it is not executed until resumed (a running one...\n"
    "  resume     Resume a paused run where it was.\n"
    "  wake       End a sleeping run's sleep now.\n"
    "  retry      Run a failed or cancelled run again under its id; completed...\n"
    "  list       List runs, newest first; runs whose files are damaged show...\n"
    "  wait       Wait for a run to end; exit 0 completed, 1 failed, 3...\n"
    "  history    Show a run's journal as a timeline (its last entries; --all...\n"
    "  workflows  List the workflows, versions and tasks the workflows...\n"
    "  worker     Execute runs from the store until stopped (SIGINT/SIGTERM)...\n"
    "  doctor     Check the run store: every run parses, journals and indexes...\n"
    "  ui         Serve a dashboard of the runs (its URL, with its token, is...\n"
    "  gc         Remove ended runs older than AGE (never one that has not...\n"
    "  export     Print a run as one JSON document: spec, journal, unread...\n"
    "  import     Load an exported run into the store; prints its id there.\n"
    "  copy       Copy runs, finished or not, with journals, mail and...\n"
    "  restore    Bring the runs of a gc archive back; prints their ids.\n"
    "  replay     Replay stored or exported runs against the workflows' code,...\n"
    "  fork       Start a new run from a step of an ended or paused run: the...\n"
    "  schedule   Start runs on a cron schedule or at a fixed interval.\n"
    "  db         Set up a database store (PostgreSQL).\n"
)


def write() -> None:
    """Rewrite this module with the app's help, asked of the app itself."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "COLUMNS": "80"}
    app = "import sys; sys.argv[0] = 'aiki'; from aiki_cli.cli.app import main; main()"
    text = subprocess.run(
        [sys.executable, "-c", app, "--help"], env=env, capture_output=True, text=True, check=True
    ).stdout
    lines = "".join(f"    {json.dumps(line)}\n" for line in text.splitlines(keepends=True))
    source = Path(__file__).read_text()
    head, _, tail = source.partition("\nHELP = ")
    tail = tail[tail.index("\n\n\ndef write") + 1 :]  # as ruff formats it
    Path(__file__).write_text(f"{head}\nHELP = (\n{lines})\n{tail}")


if __name__ == "__main__":
    write()
