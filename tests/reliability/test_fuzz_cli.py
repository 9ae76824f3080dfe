"""The command line under hypothesis: whatever the argv, input files, stdin, event data
or aiki.yaml, `aiki` answers within SPEC §6 (exit codes, one error line, no traceback)
and a rejected command writes nothing.

Commands run in this process through typer's CliRunner (a millisecond or two each), drawn
from a grammar of the real commands and options mixed with garbage; a few cases go through
the real executable, for what only a real process sees (argv bytes that are not UTF-8).

The invariants, for every command:

- the exit code is one of 0-5 and nothing escapes as an exception: no "Traceback" on
  stderr nor a frame of aiki's code on stdout (where `status` and `history` show the
  recorded traceback of a failed task's code), no "internal error" (an unexpected
  exception the CLI caught);
- on a non-zero exit the last stderr line is the one `error: ...` line; for a rejection
  (2, bad usage or input; 4, not found) it is the *only* line of stderr. (An outcome exit
  - 1 failed, 3 cancelled, 5 timed out - may follow notes for people, such as `wait`'s
  "no worker is running");
- a rejected command (2 or 4) leaves every file under the test's directory as it was;
- on success, `--json` output parses and `start` prints the run id alone.

The grammar never builds a command that would legitimately run for long in-process: a
`worker` always gets an invalid option, `wait` a short timeout, and `start --wait` only
workflows that end at once, without --delay, --timeout or an idempotency key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import aiki_cli
from aiki_cli import Client, Worker
from aiki_cli.authoring.loader import load_workflows
from aiki_cli.cli.app import app

WORKFLOWS = Path(__file__).parent / "workflows"
RUN_ID = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")
UNKNOWN_ID = "01m8b15t6pwzn5f658m0a8jryt"
EXIT_CODES = {0, 1, 2, 3, 4, 5}
# A frame of aiki's own code: what a traceback of aiki failing shows, and what the recorded
# tracebacks of user code that `status` and `history` print never do.
AIKI_FRAME = f'File "{Path(aiki_cli.__file__).parent}/'
REJECTED = {2, 4}
QUICK = ["rel-cli-echo@1.0.0", "rel-cli-typed@1.0.0", "rel-cli-fail@1.0.0"]
REFS = [*QUICK, "rel-cli-events@1.0.0"]
SUBPROCESS_TIMEOUT = 30.0


# -- the sandbox --------------------------------------------------------------------------


@dataclass
class Sandbox:
    """A directory with a store of runs in every state, shared by all examples."""

    root: Path
    runs: dict[str, str]  # status -> a run in it
    schedule: str
    files: int = 0

    def write_input(self, content: bytes) -> str:
        """A new input file with `content`, outside the store; its path."""
        self.files += 1
        path = self.root / "inputs" / f"input-{self.files}.json"
        path.write_bytes(content)
        return str(path)

    def snapshot(self) -> dict[str, tuple[object, ...]]:
        """Every file and directory under the root (input files aside): its mode, inode,
        modification time and, for a file, a digest of its content."""
        found: dict[str, tuple[object, ...]] = {}
        for folder, dirs, files in os.walk(self.root):
            if folder == str(self.root):
                dirs.remove("inputs")
            for name in dirs + files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                digest = _digest(path) if name in files else ""
                found[path] = (info.st_mode, info.st_ino, info.st_mtime_ns, digest)
        return found


def _digest(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.blake2b(file.read(), digest_size=16).hexdigest()


def make_sandbox(root: Path) -> Sandbox:
    """Runs completed, failed, cancelled, pending, paused and awaiting an event, and a
    schedule, made through the client and an in-process worker."""
    (root / "inputs").mkdir(parents=True)
    versions = load_workflows(WORKFLOWS)
    client = Client(root / "runs")

    def create(ref: str, input: Any) -> str:
        return client.create(versions[ref], input).id

    async def build() -> dict[str, str]:
        runs = {
            "completed": create("rel-cli-echo@1.0.0", {"n": 1}),
            "failed": create("rel-cli-fail@1.0.0", {"n": 2}),
            "awaiting_event": create("rel-cli-events@1.0.0", None),
        }
        await Worker(client, versions.values(), poll_interval=0.01).run(until_idle=True)
        runs["cancelled"] = create("rel-cli-echo@1.0.0", {"n": 3})
        await client.cancel(runs["cancelled"])
        runs["paused"] = create("rel-cli-echo@1.0.0", {"n": 4})
        await client.pause(runs["paused"])
        runs["pending"] = create("rel-cli-echo@1.0.0", {"n": 5})
        return runs

    runs = asyncio.run(build())
    for status, run_id in runs.items():
        assert asyncio.run(client.get(run_id)).status == status
    outcome = invoke(["schedule", "add", "rel-cli-echo@1.0.0", "--every", "1h", "--id", "fz"])
    assert outcome.code == 0, outcome
    return Sandbox(root, runs, "fz")


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    for name in list(os.environ):
        if name.startswith("AIKI_") or name in {"FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIKI_WORKFLOWS_DIR", str(WORKFLOWS))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(tmp_path)  # the default runs/ is the sandbox's store
    yield make_sandbox(tmp_path)


# -- running a command ----------------------------------------------------------------------


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    argv: list[str]


def invoke(argv: list[str], stdin: bytes | str | None = None) -> Outcome:
    result = CliRunner().invoke(app, argv, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{argv} raised {result.exception!r}") from result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr, argv)


def check_outcome(outcome: Outcome) -> None:
    """SPEC §6 for one command, whatever it was."""
    code, stdout, stderr = outcome.code, outcome.stdout, outcome.stderr
    assert code in EXIT_CODES, outcome
    assert "Traceback" not in stderr and AIKI_FRAME not in stdout, outcome
    assert "internal error" not in stderr, outcome
    if code != 0:
        lines = stderr.splitlines()
        assert lines and lines[-1].startswith("error: "), outcome
        assert sum(line.startswith("error:") for line in lines) == 1, outcome
        if code in REJECTED:
            assert len(lines) == 1, outcome
    elif "--json" in outcome.argv and "--help" not in outcome.argv and "-h" not in outcome.argv:
        json.loads(stdout)
    elif outcome.argv[:1] == ["start"] and "--help" not in outcome.argv:
        assert RUN_ID.fullmatch(stdout.removesuffix("\n")), outcome


def run_checked(sandbox: Sandbox, argv: list[str], stdin: bytes | str | None = None) -> Outcome:
    before = sandbox.snapshot()
    outcome = invoke(argv, stdin)
    check_outcome(outcome)
    if outcome.code in REJECTED:
        after = sandbox.snapshot()
        changed = sorted(set(before.items()) ^ set(after.items()))
        assert changed == [], f"{outcome} wrote {changed}"
    return outcome


# -- the grammar --------------------------------------------------------------------------

# What a real argv can hold: any character but NUL, and the lone surrogates U+DC80-U+DCFF
# that Python decodes argv bytes that are not UTF-8 into.
characters = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
argv_bytes = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
garbage = st.text(alphabet=characters | argv_bytes, max_size=12)
# Event names, reference ids and idempotency keys that are not UTF-8 are refused in one
# line (see the tests at the end of this file).
utf8_garbage = garbage
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
json_texts = st.one_of(
    json_values.map(json.dumps),
    json_values.map(json.dumps),
    st.sampled_from(
        ['{"sku": "a", "quantity": 2}', '{"n": 1}', '{"a":', "NaN", "[1e999]", "", "[" * 3000]
    ),
    garbage,
)


def as_bytes(text: str) -> bytes:
    """Text as the bytes it came from (lone surrogates back to the bytes they stand for)."""
    return text.encode("utf-8", "surrogateescape")


file_contents = st.one_of(
    json_texts.map(as_bytes),
    json_texts.map(as_bytes),
    st.binary(max_size=40),
    st.sampled_from([b"\xff\xfe{}", b'{"n": 1}\x00', b"\xef\xbb\xbf{}"]),
)


def mostly(
    valid: st.SearchStrategy[str], other: st.SearchStrategy[str] = garbage
) -> st.SearchStrategy[str]:
    """`valid` three times in four, garbage otherwise."""
    return st.one_of(valid, valid, valid, other)


flags = st.sampled_from(["--json", "--help", "--bogus", "-x", "--"])


@st.composite
def run_ids(draw: st.DrawFn, sandbox: Sandbox) -> str:
    known = st.sampled_from(list(sandbox.runs.values()))
    bad = st.sampled_from([UNKNOWN_ID, "../x", "..", "", "run/" + UNKNOWN_ID, UNKNOWN_ID[:-1]])
    return draw(st.one_of(known, known, known, known.map(str.upper), bad, garbage))


@st.composite
def json_source(
    draw: st.DrawFn, sandbox: Sandbox, names: tuple[str, str]
) -> tuple[list[str], bytes]:
    """An input as --input FILE, --input -, --input-json TEXT, both, or neither; and stdin."""
    file_flag, text_flag = names
    how = draw(st.sampled_from(["file", "stdin", "text", "both", "missing", "dir", "none"]))
    if how == "file":
        return [file_flag, sandbox.write_input(draw(file_contents))], b""
    if how == "stdin":
        return [file_flag, "-"], as_bytes(draw(json_texts))
    if how == "text":
        return [text_flag, draw(json_texts)], b""
    if how == "both":
        return [file_flag, sandbox.write_input(b"{}"), text_flag, "{}"], b""
    if how == "missing":
        return [file_flag, "no-such-input.json"], b""
    if how == "dir":
        return [file_flag, "inputs"], b""
    return [], b""


def maybe(draw: st.DrawFn, *tokens: str) -> list[str]:
    return list(tokens) if draw(st.booleans()) else []


@st.composite
def start_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    ref = draw(st.sampled_from(REFS) | st.sampled_from(["nope@1.0.0", "rel-cli-echo", "@"]))
    argv, stdin = draw(json_source(sandbox, ("--input", "--input-json")))
    argv = ["start", draw(mostly(st.just(ref))), *argv]
    if ref in QUICK and draw(st.booleans()):
        return [*argv, "--wait", *maybe(draw, "--json")], stdin
    key = draw(mostly(st.sampled_from(["k1", "k2", ""]), utf8_garbage))
    argv += maybe(draw, "--idempotency-key", key)
    argv += maybe(draw, "--delay", draw(mostly(st.sampled_from(["5m", "0", "-1s", "1x", "2w"]))))
    return argv + maybe(draw, "--json"), stdin


@st.composite
def run_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    command = draw(
        st.sampled_from(["status", "cancel", "history", "pause", "resume", "wake", "retry"])
    )
    return [command, draw(run_ids(sandbox)), *maybe(draw, "--json")], b""


@st.composite
def wait_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    timeout = draw(
        st.sampled_from(["0", "0.01"]) | st.sampled_from(["-1", "abc", "", "1e", "0x10"])
    )
    return ["wait", draw(run_ids(sandbox)), "--timeout", timeout, *maybe(draw, "--json")], b""


@st.composite
def send_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    event = draw(mostly(st.sampled_from(["ping", "other"]), utf8_garbage))
    data, stdin = draw(json_source(sandbox, ("--data", "--data-json")))
    reference = maybe(
        draw, "--reference-id", draw(mostly(st.sampled_from(["r1", ""]), utf8_garbage))
    )
    return ["send", draw(run_ids(sandbox)), event, *data, *reference, *maybe(draw, "--json")], stdin


@st.composite
def list_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    argv = ["list"]
    argv += maybe(draw, "--status", draw(st.sampled_from(["completed", "FAILED", "nope"])))
    argv += maybe(draw, "--workflow", draw(mostly(st.sampled_from(["rel-cli-echo", "x@1.0.0"]))))
    argv += maybe(draw, "--limit", draw(st.sampled_from(["1", "0", "-3", "many"])))
    return argv + maybe(draw, "--json"), ""


@st.composite
def worker_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    """A worker that must refuse to start: every one gets an invalid option value."""
    bad = draw(
        st.sampled_from(
            [
                ["--concurrency", "0"],
                ["--concurrency", "x"],
                ["--poll-interval", "0"],
                ["--grace-period", "-1"],
                ["--concurrency"],
            ]
        )
    )
    return ["worker", *maybe(draw, "--until-idle"), *bad], b""


@st.composite
def schedule_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    action = draw(st.sampled_from(["add", "list", "pause", "resume", "remove", "nope"]))
    if action in ("pause", "resume", "remove"):
        return ["schedule", action, draw(mostly(st.sampled_from([sandbox.schedule, "nope"])))], b""
    if action != "add":
        return ["schedule", action, *maybe(draw, "--json")], b""
    argv = ["schedule", "add", draw(mostly(st.sampled_from([*REFS, "nope@1.0.0"])))]
    argv += maybe(draw, "--cron", draw(mostly(st.sampled_from(["0 9 * * *", "61 * * * *"]))))
    argv += maybe(draw, "--every", draw(mostly(st.sampled_from(["10m", "0.5s", "1h30m"]))))
    argv += maybe(draw, "--tz", draw(mostly(st.sampled_from(["Europe/Paris", "Mars/Base"]))))
    argv += maybe(draw, "--overlap", draw(st.sampled_from(["allow", "sometimes"])))
    argv += maybe(draw, "--id", draw(mostly(st.sampled_from(["s1", "../s", ""]))))
    data, stdin = draw(json_source(sandbox, ("--input", "--input-json")))
    return [*argv, *data, *maybe(draw, "--json")], stdin


@st.composite
def garbage_commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    words = st.sampled_from(["start", "status", "schedule", "workflows", "--json", "-h"])
    return draw(st.lists(words | garbage, max_size=5)), b""


@st.composite
def commands(draw: st.DrawFn, sandbox: Sandbox) -> tuple[list[str], bytes]:
    """A command line, with global options (in front or after the command) sometimes."""
    argv, stdin = draw(
        st.one_of(
            start_commands(sandbox),
            run_commands(sandbox),
            wait_commands(sandbox),
            send_commands(sandbox),
            list_commands(sandbox),
            worker_commands(sandbox),
            schedule_commands(sandbox),
            garbage_commands(sandbox),
            st.just((["workflows", "--json"], b"")),
        )
    )
    extra = draw(st.lists(flags, max_size=1)) if draw(st.integers(0, 5)) == 0 else []
    places = st.one_of(
        *[st.just("runs")] * 6, st.sampled_from(["other-runs", "."]), st.text("ab", min_size=1)
    )
    runs = maybe(draw, "--runs-dir", draw(places))
    folders = [str(WORKFLOWS)] * 6 + ["no-such-workflows", "inputs"]
    workflows = maybe(draw, "--workflows-dir", draw(st.sampled_from(folders)))
    globals_ = runs + workflows
    if draw(st.booleans()):
        return [*globals_, *argv, *extra], stdin
    return [*argv, *extra, *globals_], stdin


FUZZ = settings(
    max_examples=600,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data())
def test_any_command_line_exits_by_the_contract_and_a_rejected_one_writes_nothing(
    sandbox: Sandbox, data: st.DataObject
) -> None:
    argv, stdin = data.draw(commands(sandbox), label="command")
    run_checked(sandbox, argv, stdin)


@settings(FUZZ, max_examples=60)
@given(
    config=st.text(max_size=60) | st.dictionaries(st.text(max_size=12), json_values).map(json.dumps)
)
def test_any_aiki_yaml_is_used_or_refused_in_one_line(sandbox: Sandbox, config: str) -> None:
    (sandbox.root / "aiki.yaml").write_text(config)
    try:
        outcome = run_checked(sandbox, ["list", "--json"])
    finally:
        (sandbox.root / "aiki.yaml").unlink()
    assert outcome.code in (0, 2), outcome


# -- every exit code, reached on purpose --------------------------------------------------


def test_every_exit_code_is_reached_and_held_to_the_contract(sandbox: Sandbox) -> None:
    """The fuzzer reaches exits 1, 3 and 5 only now and then: a tour of all six."""
    runs = sandbox.runs
    tour = [
        (["start", "rel-cli-echo@1.0.0", "--input-json", '{"n": 1}', "--wait", "--json"], 0),
        (["start", "rel-cli-fail@1.0.0", "--wait"], 1),
        (["start", "rel-cli-typed@1.0.0", "--input-json", '{"sku": ""}'], 2),
        (["wait", runs["cancelled"], "--timeout", "0"], 3),
        (["status", UNKNOWN_ID], 4),
        (["wait", runs["pending"], "--timeout", "0.01"], 5),
        (["send", runs["awaiting_event"], "ping", "--data-json", '{"n": "x"}'], 2),
        (["cancel", runs["completed"]], 2),
        (["schedule", "add", "rel-cli-echo@1.0.0", "--every", "0.5s"], 2),
    ]
    for argv, code in tour:
        assert run_checked(sandbox, argv).code == code, argv


# -- through the real executable ----------------------------------------------------------


def aiki(sandbox: Sandbox, *argv: str | bytes, stdin: bytes = b"") -> Outcome:
    """Run the real `aiki` (as the module, so the tests' aiki_cli is the one run)."""
    done = subprocess.run(
        [sys.executable, "-m", "aiki_cli", *argv],
        input=stdin,
        capture_output=True,
        cwd=sandbox.root,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    decoded = [os.fsdecode(arg) if isinstance(arg, bytes) else arg for arg in argv]
    out, err = done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    return Outcome(done.returncode, out, err, decoded)


def test_the_real_executable_refuses_argv_bytes_that_are_not_utf8_in_one_line(
    sandbox: Sandbox,
) -> None:
    """What only a real process sees: argv and stdin bytes that are not UTF-8."""
    waiting = sandbox.runs["awaiting_event"]
    cases: list[tuple[list[str | bytes], bytes]] = [
        ([b"start", b"rel-cli-echo\xff@1.0.0"], b""),
        ([b"status", b"\xff\xfe"], b""),
        ([b"start", b"rel-cli-echo@1.0.0", b"--input-json", b'{"a": "\xff"}'], b""),
        ([b"start", b"rel-cli-echo@1.0.0", b"--input", b"in\xff.json"], b""),
        (["start", "rel-cli-echo@1.0.0", "--input", "-"], b'\xff\xfe{"a": 1}'),
        (["send", waiting, "ping", "--data-json", b'{"n": "\xff"}'], b""),
        ([b"\xff"], b""),
        (["schedule", "add", "rel-cli-echo@1.0.0", "--every", "1h", "--id", b"s\xff"], b""),
    ]
    wrong = []
    for argv, stdin in cases:
        before = sandbox.snapshot()
        outcome = aiki(sandbox, *argv, stdin=stdin)
        try:
            check_outcome(outcome)
            assert outcome.code == 2
            assert sandbox.snapshot() == before, "it wrote"
        except AssertionError as error:
            wrong.append(f"{outcome}: {error}")
    assert wrong == [], "\n".join(wrong)


# -- bugs the fuzzing found, fixed: each stays as a regression test ----------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["start", "rel-cli-echo@1.0.0", "--delay", "99999999999d"],
        ["start", "rel-cli-echo@1.0.0", "--delay", "11000000000000000000"],
        ["schedule", "add", "rel-cli-echo@1.0.0", "--every", "99999999999d"],
    ],
)
def test_a_duration_too_large_for_any_date_is_refused_as_bad_input(
    sandbox: Sandbox, argv: list[str]
) -> None:
    assert run_checked(sandbox, argv).code == 2


@pytest.mark.parametrize("command", [["start", "rel-cli-echo@1.0.0"], ["list"]])
def test_a_runs_dir_that_is_a_file_is_refused_as_bad_input(
    sandbox: Sandbox, command: list[str]
) -> None:
    path = sandbox.write_input(b"{}")
    assert run_checked(sandbox, ["--runs-dir", path, *command]).code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["send", "{waiting}", "p\udcff", "--data-json", '{"n": 1}'],
        ["send", "{waiting}", "ping", "--data-json", '{"n": 1}', "--reference-id", "r\udcff"],
        ["start", "rel-cli-echo@1.0.0", "--idempotency-key", "k\udcff"],
    ],
    ids=["event-name", "reference-id", "idempotency-key"],
)
def test_text_that_is_not_utf8_is_refused_in_one_line_and_writes_nothing(
    sandbox: Sandbox, argv: list[str]
) -> None:
    argv = [arg.replace("{waiting}", sandbox.runs["awaiting_event"]) for arg in argv]
    assert run_checked(sandbox, argv).code == 2
