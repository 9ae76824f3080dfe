"""Security: ids never reach the file system unchecked, secrets stay private, no pickle,
and values above the size limit are refused."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aiki_cli
from aiki_cli import Client, InputInvalid, RunStatus, Worker, task, workflow
from aiki_cli.cli.app import app
from aiki_cli.errors import ConfigError
from aiki_cli.values.codec import DEFAULT_MAX_BYTES, LIMIT_VARIABLE, Codec, max_value_bytes

PACKAGE = Path(aiki_cli.__file__).parent


@task(name="inflate")
def inflate(size: int) -> str:
    return "x" * size


big_output = workflow(name="big-output")


@big_output.v("1.0.0")
async def big_output_v1(size: int, run: aiki_cli.Run) -> str:
    return await inflate.start(run, size)


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv(LIMIT_VARIABLE, "100")
    return 100


def test_the_default_limit_is_ten_megabytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LIMIT_VARIABLE, raising=False)
    assert max_value_bytes() == DEFAULT_MAX_BYTES == 10 * 1024 * 1024


@pytest.mark.parametrize("setting", ["", "abc", "-5", "0", "1.5"])
def test_a_bad_limit_setting_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv(LIMIT_VARIABLE, setting)
    with pytest.raises(ConfigError, match=LIMIT_VARIABLE):
        Codec(None, "input").encode(1)


def test_a_value_at_the_limit_passes_and_one_byte_more_is_refused(limit: int) -> None:
    codec = Codec(None, "input of workflow w@1.0.0")
    fits = "x" * (limit - 2)  # the quotes make up the rest
    assert codec.encode(fits) == fits
    with pytest.raises(InputInvalid, match=r"101 bytes of JSON is above the limit of 100"):
        codec.encode(fits + "x")


def test_an_oversized_start_is_refused_with_exit_2_and_writes_nothing(
    tmp_path: Path, limit: int
) -> None:
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "echo.py").write_text(
        "from aiki_cli import workflow\n"
        "w = workflow(name='echo')\n"
        "@w.v('1.0.0')\n"
        "async def v1(input, run):\n"
        "    return input\n"
    )
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "--workflows-dir", str(tmp_path / "wf"), "start", "echo@1.0.0"]
    result = CliRunner().invoke(app, [*args, "--input-json", '"' + "x" * 200 + '"'])
    assert result.exit_code == 2
    assert "above the limit" in result.stderr and result.stderr.count("\n") == 1
    assert not runs.exists()


def test_an_oversized_task_result_fails_the_run(limit: int) -> None:
    async def scenario() -> aiki_cli.RunInfo:
        client = Client(":memory:")
        handle = await big_output_v1.start(client, 500)
        await Worker(client, [big_output]).run(until_idle=True)
        return await handle.get_status()

    info = asyncio.run(scenario())
    assert info.status == RunStatus.FAILED
    assert info.error is not None and "output of task 'inflate'" in info.error.message
    assert [call.status for call in info.tasks] == ["failed"]


def test_oversized_event_data_is_refused_and_nothing_is_stored(limit: int) -> None:
    waits = workflow(name="waits")

    @waits.v("1.0.0")
    async def waits_v1(input: None, run: aiki_cli.Run) -> object:
        return (await run.wait_for_event("go")).data

    async def scenario() -> None:
        client = Client(":memory:")
        handle = await waits_v1.start(client)
        await Worker(client, [waits]).run(until_idle=True)
        with pytest.raises(InputInvalid, match="data of event 'go'"):
            await handle.send("go", "y" * 500)
        claim = client.store.claim(handle.id)
        assert claim is not None and claim.mail() == []
        claim.release()

    asyncio.run(scenario())


def test_run_directories_are_private(tmp_path: Path) -> None:
    async def scenario() -> str:
        client = Client(tmp_path / "runs")
        handle = await big_output_v1.start(client, 3)
        await Worker(client, [big_output]).run(until_idle=True)
        return handle.id

    run_id = asyncio.run(scenario())
    run_dir = tmp_path / "runs" / "run" / run_id
    for folder in (tmp_path / "runs", run_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("run.json", "journal.jsonl"):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "..", "a/b", "x" * 27, "\0"])
@pytest.mark.parametrize(
    "command", ["status", "cancel", "wait", "history", "pause", "resume", "wake", "retry"]
)
def test_every_command_taking_a_run_id_refuses_paths(
    tmp_path: Path, command: str, bad: str
) -> None:
    result = CliRunner().invoke(app, ["--runs-dir", str(tmp_path / "runs"), command, bad])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "runs").exists()


def test_send_refuses_a_path_as_run_id(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--runs-dir", str(tmp_path / "runs"), "send", "../x", "go"])
    assert result.exit_code == 2
    assert not (tmp_path / "runs").exists()


def test_no_module_of_the_package_uses_pickle_or_marshal() -> None:
    unsafe = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|marshal|shelve|dill)\b", re.M)
    offenders = [path.name for path in PACKAGE.rglob("*.py") if unsafe.search(path.read_text())]
    assert offenders == []


def test_workflow_modules_load_only_from_the_configured_directory(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.py").write_text("raise SystemExit('must never be imported')\n")
    (tmp_path / "wf").mkdir()
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["--workflows-dir", "wf", "workflows", "--json"])
    finally:
        os.chdir(old)
    assert result.exit_code == 0 and result.stdout.strip() == "[]"
