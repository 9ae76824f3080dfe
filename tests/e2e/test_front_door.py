"""The `aiki` console script's front door (`cli/door.py`) prints what the app prints.

For every command it serves — `status ID --json` for runs in every status, `list --json`
with each option, `--help` — its stdout is the app's, byte for byte (the app exits 0 with
nothing on stderr there); everything else it hands to the app, untouched, so errors and
exit codes are the app's own. The app runs in this process (CliRunner) where a process
of its own is not what is compared, to keep the tier fast.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from aiki_cli import Client, Worker
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.cli import door
from aiki_cli.cli.helptext import HELP
from aiki_cli.cli.panel import _text as panel_text
from aiki_cli.model.entry import StatusChanged, dump_entry
from aiki_cli.model.plain import Unsure
from aiki_cli.model.status import RunStatus
from aiki_cli.values.clock import SystemClock

from .door import flows
from .support import AIKI, SUBPROCESS_TIMEOUT, Invoke, Outcome

LONG_INPUT = {"kind": "ok", "note": "a long input that wraps " * 20, "name": "Zoë ünïcode ✓"}


def _execute(client: Client) -> None:
    asyncio.run(Worker(client, workflows=flows.WORKFLOWS).run(until_idle=True))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A store with a run in every status, by name: its directory and the run ids."""
    root = tmp_path_factory.mktemp("door") / "runs"
    client = Client(root)
    ids: dict[str, str] = {}
    for kind in ("ok", "fail", "retrywait", "sleep", "event", "child", "many"):
        ids[kind] = client.create(flows.flow_v1, {"kind": kind}).id
    ids["long"] = client.create(flows.flow_v1, LONG_INPUT).id
    ids["retried"] = client.create(flows.flow_v1, {"kind": "fail"}).id
    _execute(client)
    asyncio.run(client.retry(ids["retried"]))
    for name in ("pending", "paused", "cancelled", "running"):
        ids[name] = client.create(flows.flow_v1, {"kind": name}, idempotency_key=name).id
    ids["delayed"] = client.create(flows.flow_v1, {"kind": "later"}, delay="1h").id
    asyncio.run(client.pause(ids["paused"]))
    asyncio.run(client.cancel(ids["cancelled"]))
    _crash_while_running(root, ids["running"])
    statuses = {name: asyncio.run(client.get(run_id)).status for name, run_id in ids.items()}
    assert set(statuses.values()) == set(RunStatus), " ".join(
        f"{k}={v}" for k, v in statuses.items()
    )
    yield root, ids
    client.close()


def _crash_while_running(root: Path, run_id: str) -> None:
    """The run as a worker killed mid-run leaves it: `running` is its last entry, and a
    cancel was asked for since (its request file)."""
    entry = StatusChanged(
        at=SystemClock().now(), old=RunStatus.PENDING, new=RunStatus.RUNNING, worker="w-1"
    )
    with (root / "run" / run_id / "journal.jsonl").open("ab") as journal:
        journal.write(dump_entry(entry) + b"\n")
    (root / "run" / run_id / "cancel").touch()


def served(args: Sequence[str]) -> str | None:
    """What the front door prints for `args`, or None when it hands them to the app."""
    try:
        return door.answer(args)
    except door.HandOver:
        return None


def assert_same(cli: Invoke, args: list[str]) -> Outcome:
    """The front door serves `args` and prints exactly what the app prints."""
    app = cli(*args)
    assert (app.code, app.stderr) == (0, ""), app
    assert served(args) == app.stdout
    return app


def test_status_json_of_a_run_in_every_status_is_the_apps(
    cli: Invoke, store: tuple[Path, dict[str, str]]
) -> None:
    root, ids = store
    for name, run_id in ids.items():
        shown = assert_same(cli, ["--runs-dir", str(root), "status", run_id, "--json"]).json()
        assert shown["id"] == run_id, name
    assert assert_same(cli, ["status", ids["running"], "--json", f"--runs-dir={root}"]).json()[
        "cancel_requested"
    ]
    assert_same(cli, ["--store", str(root), "status", ids["child"].upper(), "--json"])


def test_the_documents_hold_what_each_status_shows(store: tuple[Path, dict[str, str]]) -> None:
    """Not only equal to the app's: the runs are what the comparisons claim to cover."""
    root, ids = store

    def doc(name: str) -> dict[str, object]:
        text = served(["--runs-dir", str(root), "status", ids[name], "--json"])
        assert text is not None
        return json.loads(text)  # type: ignore[no-any-return]

    assert doc("ok")["result"]["text"] == "fertig ✓"  # type: ignore[index]
    failed = doc("fail")
    assert failed["status"] == "failed" and failed["tasks"][-1]["attempts"] == 2  # type: ignore[index]
    assert doc("retrywait")["waiting_for"]["name"] == "fails-later"  # type: ignore[index]
    assert doc("event")["waiting_for"]["kind"] == "event"  # type: ignore[index]
    assert doc("child")["status"] == "awaiting_child" and doc("child")["children"]
    assert doc("delayed")["waiting_for"]["kind"] == "start"  # type: ignore[index]
    assert (doc("retried")["status"], doc("retried")["attempt"]) == ("pending", 2)
    assert doc("long")["input"] == LONG_INPUT
    assert len(doc("many")["tasks"]) == 26  # and `status` shows the last 20 of them


SERVED_PANELS = {
    *("pending", "paused", "cancelled", "running", "delayed", "sleep", "event", "child", "many")
}


@pytest.mark.parametrize("columns", ["80", "120", "200"])
def test_status_for_people_off_a_terminal_is_the_apps_panel_or_the_apps_own(
    cli: Invoke,
    store: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    columns: str,
) -> None:
    """Where the front door draws the panel, it is rich's, byte for byte; where it cannot
    be sure (unicode, a traceback, a line too wide), it hands over."""
    root, ids = store
    monkeypatch.setenv("COLUMNS", columns)
    drawn = set()
    for name, run_id in ids.items():
        for flags in ([], ["--all"]):
            args = ["--runs-dir", str(root), "status", run_id, *flags]
            app = cli(*args, env={"COLUMNS": columns})
            assert (app.code, app.stderr) == (0, ""), app
            text = served(args)
            if text is not None:
                assert text == app.stdout, name
                drawn.add(name)
    assert drawn >= SERVED_PANELS
    assert not drawn & {"ok", "fail", "long", "retrywait"}  # unicode or tracebacks


def test_a_panel_wider_than_the_console_or_in_colour_goes_to_the_app(
    store: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = store
    args = ["--runs-dir", str(root), "status", ids["child"]]
    monkeypatch.setenv("COLUMNS", "200")
    assert served(args) is not None
    monkeypatch.setenv("COLUMNS", "60")  # the child's id and the times do not fit
    assert served(args) is None
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert served(args) is None


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--limit", "3"],
        ["--limit=1"],
        ["--limit", "200"],
        ["--status", "sleeping"],
        ["--status=failed", "--limit", "1"],
        ["--status", "running"],
        ["--workflow", "door-child"],
        ["--workflow=door-flow@1.0.0", "--status", "pending"],
        ["--workflow", "door-flow@9.9.9"],
        ["--workflow", "@1.0.0", "--limit", "2"],
    ],
)
def test_list_json_with_each_option_is_the_apps(
    cli: Invoke, store: tuple[Path, dict[str, str]], options: list[str]
) -> None:
    root, _ = store
    assert_same(cli, ["list", "--json", *options, "--runs-dir", str(root)])


def test_store_from_the_environment_and_aiki_yaml_is_resolved_as_the_app_does(
    cli: Invoke,
    store: tuple[Path, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    root, ids = store
    monkeypatch.setenv("AIKI_RUNS_DIR", str(root))
    assert json.loads(assert_same(cli, ["list", "--json"]).stdout)
    monkeypatch.delenv("AIKI_RUNS_DIR")
    (tmp_path / "aiki.yaml").write_text(f"store: {root}\n")
    assert_same(cli, ["status", ids["ok"], "--json"])


@pytest.mark.parametrize(
    "args",
    [
        ["status", "RUN"],  # for people, with a unicode result: the app draws it
        ["status", "RUN", "--json", "--follow"],
        ["status", "RUN", "--json", "--exit-code"],
        ["status", "RUN", "--json", "--all"],
        ["status", "RUN", "--json", "--json"],
        ["status", "01kb0000000000000000000000", "--json"],  # no such run
        ["status", "not-a-run-id", "--json"],
        ["status", "--json"],
        ["status", "RUN", "OTHER", "--json"],
        ["list"],
        ["list", "--json", "--limit", "0"],
        ["list", "--json", "--limit", "05"],
        ["list", "--json", "--limit"],
        ["list", "--json", "--status", "Sleeping"],
        ["list", "--json", "--bogus"],
        ["list", "--json", "extra"],
        ["history", "RUN", "--json"],
        ["--store", "postgresql://nobody@localhost:1/none", "list", "--json"],
        ["--runs-dir", "a", "--runs-dir", "b", "list", "--json"],
        ["--runs-dir", "a", "--store", "b", "list", "--json"],
        ["--runs-dir", "does-not-exist", "list", "--json"],
        ["--version"],
        ["status", "--help"],
        [],
    ],
)
def test_what_it_does_not_serve_goes_to_the_app(
    store: tuple[Path, dict[str, str]], args: list[str]
) -> None:
    root, ids = store
    args = [ids["ok"] if a == "RUN" else ids["sleep"] if a == "OTHER" else a for a in args]
    if "--runs-dir" not in args and "--store" not in args:
        args += ["--runs-dir", str(root)]
    assert served(args) is None


def test_a_store_named_as_a_database_url_anywhere_goes_to_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: tuple[Path, dict[str, str]]
) -> None:
    monkeypatch.setenv("AIKI_STORE", "postgresql://nobody@localhost:1/none")
    assert served(["list", "--json"]) is None
    monkeypatch.delenv("AIKI_STORE")
    (tmp_path / "aiki.yaml").write_text("store: postgresql://nobody@localhost:1/none\n")
    assert served(["status", store[1]["ok"], "--json"]) is None


def test_a_damaged_run_goes_to_the_app(tmp_path: Path, store: tuple[Path, dict[str, str]]) -> None:
    root, ids = store
    run_dir = tmp_path / "runs" / "run" / ids["ok"]
    run_dir.parent.mkdir(parents=True)
    (run_dir).mkdir()
    (run_dir / "run.json").write_bytes((root / "run" / ids["ok"] / "run.json").read_bytes())
    (run_dir / "journal.jsonl").write_bytes(b'{"type":"status","at":"yesterday"}\n')
    assert served(["status", ids["ok"], "--json"]) is None
    (run_dir / "journal.jsonl").write_bytes(b"")
    assert served(["status", ids["ok"], "--json"]) is not None  # the same run, undamaged


HOSTILE_LINES = [
    b'{"type": bad\n',  # not JSON
    b"5\n",  # JSON, no entry
    b"[]\n",
    b"NaN\n",
    b'{"type":"progress","at":"2026-12-03T10:00:00.000001Z","fraction":1e999}\n',
    b"\xff\xfe\n",  # not UTF-8
    b"[" * 100_000 + b"\n",  # nested past the parser's recursion limit
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=range(len(HOSTILE_LINES)))
@pytest.mark.parametrize("damaged", ["journal.jsonl", "run.json"])
def test_a_damaged_line_or_record_goes_to_the_app_never_to_a_traceback(
    tmp_path: Path, store: tuple[Path, dict[str, str]], line: bytes, damaged: str
) -> None:
    root, ids = store
    run_dir = tmp_path / "runs" / "run" / ids["ok"]
    run_dir.mkdir(parents=True)
    for name in ("run.json", "journal.jsonl"):
        (run_dir / name).write_bytes((root / "run" / ids["ok"] / name).read_bytes())
    if damaged == "run.json":
        (run_dir / damaged).write_bytes(line)
    else:
        with (run_dir / damaged).open("ab") as journal:
            journal.write(line)
    created = (root / "index" / "created.log").read_text().splitlines()
    (tmp_path / "runs" / "index").mkdir()
    (tmp_path / "runs" / "index" / "created.log").write_text(
        "".join(f"{line}\n" for line in created if line.startswith(ids["ok"]))
    )
    assert served(["status", ids["ok"], "--json"]) is None
    assert served(["list", "--json"]) is None


# -- through the console script: the front door wired in, and the app behind it ----------


def _run(command: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, **env},
        cwd=cwd,
        timeout=SUBPROCESS_TIMEOUT,
        start_new_session=True,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


APP = [
    sys.executable,
    "-c",
    "import sys; sys.argv[0] = 'aiki'; from aiki_cli.cli.app import main; main()",
]


@pytest.mark.parametrize("columns", ["80", "200"])
def test_help_is_the_apps_and_the_text_kept_for_it_is_up_to_date(
    tmp_path: Path, columns: str
) -> None:
    """Fails when the app's help changed and `python -m aiki_cli.cli.helptext` was not run."""
    env = {"COLUMNS": columns}
    app = _run([*APP, "--help"], env, tmp_path)
    assert (app.code, app.stderr) == (0, "")
    assert app.stdout == HELP, "the app's help changed: python -m aiki_cli.cli.helptext"
    assert _run([*AIKI, "--help"], env, tmp_path) == app
    assert _run([*AIKI, "-h"], env, tmp_path) == app
    assert _run([*AIKI, "--runs-dir", "x", "--workflows-dir=y", "--help"], env, tmp_path) == app


def test_help_narrower_than_80_columns_is_the_apps_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"COLUMNS": "60"}
    app = _run([*APP, "--help"], env, tmp_path)
    assert app.stdout != HELP  # click wraps it otherwise
    assert _run([*AIKI, "--help"], env, tmp_path) == app
    monkeypatch.setenv("COLUMNS", "79")
    monkeypatch.setattr(sys, "argv", ["/venv/bin/aiki", "--help"])  # as the console script
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    assert served(["--help"]) is None
    monkeypatch.setenv("COLUMNS", "80")
    assert served(["--help"]) == HELP
    python_m = types.ModuleType("__main__")
    python_m.__package__ = "aiki_cli"  # `python -m aiki_cli --help`: click names it so
    monkeypatch.setitem(sys.modules, "__main__", python_m)
    assert served(["--help"]) is None


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["status", "RUN", "--json"], 0),
        (["status", "SLEEPING"], 0),
        (["list", "--json", "--limit", "2"], 0),
        (["status", "01kb0000000000000000000000", "--json"], 4),  # the app's error line
        (["status", "nope", "--json"], 2),
        (["list", "--json", "--limit", "0"], 2),  # click's message
    ],
)
def test_the_console_script_and_the_app_agree_byte_for_byte(
    tmp_path: Path, store: tuple[Path, dict[str, str]], args: list[str], code: int
) -> None:
    root, ids = store
    args = [ids["ok"] if a == "RUN" else ids["sleep"] if a == "SLEEPING" else a for a in args]
    env = {"AIKI_RUNS_DIR": str(root), "COLUMNS": "150"}
    via_door = _run([*AIKI, *args], env, tmp_path)
    assert via_door == _run([*APP, *args], env, tmp_path)
    assert via_door.code == code, via_door


@pytest.mark.parametrize(
    "value", ["[bold]x[/bold]", "thumbs :thumbs_up:", "x:100:y", "Zoë", "two\nlines", "tab\there"]
)
def test_text_rich_would_change_or_measure_otherwise_is_left_to_rich(value: str) -> None:
    with pytest.raises(Unsure):
        panel_text(value)


def test_times_and_json_lists_are_plain_text_to_rich() -> None:
    """What the door does draw, rich prints unchanged (markup and emoji codes applied)."""
    from rich.console import Console

    value = '{"at": "10:33:16", "list": [1, "x"], "ok": true}'
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(value, soft_wrap=True)
    assert panel_text(value) == value == captured.get().rstrip("\n")
    assert panel_text("[1, 2]") == "[1, 2]"


@pytest.mark.parametrize(
    ("args", "settings"),
    [
        (["worker"], {"concurrency": 10, "until_idle": False}),
        (["worker", "--until-idle"], {"concurrency": 10, "until_idle": True}),
        (["worker", "--concurrency", "3", "--until-idle"], {"concurrency": 3, "until_idle": True}),
        (["--store", "S", "worker", "--concurrency=50"], {"concurrency": 50, "until_idle": False}),
        (["worker", "--until-idle", "--runs-dir", "R"], {"concurrency": 10, "until_idle": True}),
    ],
)
def test_the_worker_scripts_start_is_started_without_the_app(
    args: list[str], settings: dict[str, object]
) -> None:
    assert door.worker(args)[1] == settings


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "--concurrency", "0"],  # typer's own message for each of these
        ["worker", "--concurrency=05"],
        ["worker", "--concurrency", "+5"],
        ["worker", "--concurrency"],
        ["worker", "--concurrency", "2", "--concurrency", "3"],
        ["worker", "-v"],
        ["worker", "--poll-interval", "1"],
        ["worker", "--help"],
        ["worker", "extra"],
        ["workflows"],
        ["--store", "A", "--store", "B", "worker"],
    ],
)
def test_any_other_worker_command_line_goes_to_the_app(args: list[str]) -> None:
    with pytest.raises(door.HandOver):
        door.worker(args)


def _worker_lines(stderr: str) -> list[str]:
    """The worker's stderr without what differs from one process to another."""
    lines = [re.sub(r"^\d{4}-\d\d-\d\d \S+ ", "", line) for line in stderr.splitlines()]
    return [re.sub(r"worker \S+", "worker W", line) for line in lines]


WORKER_FLOW = """
from aiki_cli import Run, task, workflow

@task(name="echo")
def echo(value):
    print("a task's print goes to stderr\\n", end="")  # one write: two tasks run at once
    return value

echoing = workflow(name="echoing")

@echoing.v("1.0.0")
async def echoing_v1(input, run: Run):
    return await echo.start(run, input)
"""


# Says last, on stderr, whether typer was loaded.
PROBE = (
    "import atexit, sys; atexit.register(lambda: print('typer' in sys.modules, file=sys.stderr))"
)


def test_a_worker_started_by_the_door_runs_as_the_apps(tmp_path: Path) -> None:
    """The same runs executed, the same stdout (nothing), the same lines on stderr and
    exit code; and the door's worker never loads typer."""
    outcomes = {}
    for name in ("door", "app"):
        cwd = tmp_path / name
        (cwd / "workflows").mkdir(parents=True)
        (cwd / "workflows" / f"echoing_{name}.py").write_text(WORKER_FLOW)  # a module each
        client = Client(cwd / "runs")
        echoing = load_workflows(cwd / "workflows")["echoing@1.0.0"]
        sys.modules.pop(f"echoing_{name}")  # loaded here only to start its runs
        ids = [client.create(echoing, n).id for n in range(3)]
        main = f"import sys; sys.argv[0] = 'aiki'; from aiki_cli.cli.{name} import main; main()"
        args = ["--workflows-dir", "workflows", "worker", "--until-idle", "--concurrency", "2"]
        args += ["--runs-dir", "runs"]
        done = _run([sys.executable, "-c", f"{PROBE}; {main}", *args], {}, cwd)
        assert all(asyncio.run(client.get(i)).status == RunStatus.COMPLETED for i in ids), done
        client.close()
        lines = _worker_lines(done.stderr.replace(str(cwd), "CWD"))
        outcomes[name] = (done.code, done.stdout, sorted(lines[:-1]), lines[-1])
    door_, app_ = outcomes["door"], outcomes["app"]
    assert door_[:3] == app_[:3] and door_[:2] == (0, ""), outcomes
    assert (door_[3], app_[3]) == ("False", "True")
    assert door_[2].count("a task's print goes to stderr") == 3
    assert "INFO aiki.worker: worker W stopped; ran 3 runs: 3 completed" in door_[2], door_


def test_the_doors_worker_and_the_apps_fail_alike(tmp_path: Path) -> None:
    """No workflows to execute: the same line and exit code from both."""
    (tmp_path / "none").mkdir()
    args = ["--workflows-dir", str(tmp_path / "none"), "worker", "--until-idle"]
    via_door = _run([*AIKI, *args], {}, tmp_path)
    assert via_door == _run([*APP, *args], {}, tmp_path)
    assert via_door.code == 2 and "no workflows" in via_door.stderr, via_door
