"""Bad usage and bad input: the exit code, one `error:` line, no traceback, nothing written.

Every case runs in-process through CliRunner; the cases marked `real` run through the
real executable too, so each exit code is proven on the installed command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .support import Invoke, assert_one_error

UNKNOWN_ID = "01m8b15t6pwzn5f658m0a8jryt"
BAD_IDS = [
    "../x",
    "..",
    "../../../../etc/passwd",
    "/tmp",
    "run/" + UNKNOWN_ID,
    UNKNOWN_ID[:-1],
    UNKNOWN_ID + "0",
    "u" * 26,  # not in the id alphabet
    "",
]
RUN_COMMANDS = ["status", "cancel", "wait", "history"]


@dataclass
class Case:
    args: list[str]
    code: int
    fragments: list[str] = field(default_factory=list)
    stdin: str = ""
    real: bool = False


START = ["start", "e2e-echo@1.0.0"]
CASES: dict[str, Case] = {
    "input-file-missing": Case([*START, "--input", "missing.json"], 2, ["missing.json"]),
    "input-file-is-a-directory": Case([*START, "--input", "."], 2, ["cannot be read"]),
    "input-file-not-utf8": Case([*START, "--input", "latin1.json"], 2, ["latin1.json"]),
    "input-file-invalid-json": Case([*START, "--input", "bad.json"], 2, ["bad.json", "JSON"]),
    "input-json-invalid": Case([*START, "--input-json", '{"n": '], 2, ["--input-json", "JSON"]),
    "input-json-empty": Case([*START, "--input-json", ""], 2, ["--input-json", "JSON"]),
    "stdin-invalid-json": Case([*START, "--input", "-"], 2, ["standard input"], stdin="nope"),
    "input-json-nan": Case([*START, "--input-json", '{"n": NaN}'], 2, ["NaN"], real=True),
    "input-json-infinity": Case([*START, "--input-json", "[-Infinity]"], 2, ["Infinity"]),
    "input-file-nan": Case([*START, "--input", "nan.json"], 2, ["nan.json", "NaN"]),
    "input-json-overflow": Case([*START, "--input-json", "[1e999]"], 2),
    "input-json-deep": Case([*START, "--input-json", "[" * 100_000], 2, ["--input-json"]),
    "model-field-invalid": Case(
        ["start", "e2e-typed@1.0.0", "--input-json", '{"sku": "a", "quantity": 0}'],
        2,
        ["e2e-typed@1.0.0", "quantity"],
        real=True,
    ),
    "model-field-missing": Case(
        ["start", "e2e-typed@1.0.0", "--input-json", '{"quantity": 1}'], 2, ["sku"]
    ),
    "model-no-input": Case(["start", "e2e-typed@1.0.0"], 2, ["e2e-typed@1.0.0"]),
    "both-inputs": Case([*START, "--input-json", "{}", "--input", "x.json"], 2, ["not both"]),
    "empty-idempotency-key": Case([*START, "--idempotency-key", ""], 2, ["idempotency key"]),
    "unknown-version": Case(
        ["start", "e2e-echo@9.9.9"],
        4,
        ["e2e-echo@9.9.9", "e2e-echo@1.0.0", "e2e-echo@2.0.0", "e2e-typed@1.0.0"],
        real=True,
    ),
    "unknown-workflow": Case(["start", "nope@1.0.0"], 4, ["nope@1.0.0", "e2e-boom@1.0.0"]),
    "ref-without-version": Case(["start", "e2e-echo"], 2, ["name@version"], real=True),
    "ref-short-version": Case(
        ["start", "e2e-echo@1.0"], 2, ["version '1.0' is not semver", "e2e-echo@1.0.0"]
    ),
    "ref-without-name": Case(["start", "@1.0.0"], 2, ["name@version"]),
    "ref-version-not-semver": Case(
        ["start", "e2e-echo@1"], 2, ["version '1' is not semver", "e2e-echo@1.0.0"], real=True
    ),
    "ref-path": Case(["start", "../e2e-echo@1.0.0"], 2, ["workflow name '../e2e-echo'"]),
    "unknown-option": Case([*START, "--bogus"], 2, ["--bogus"], real=True),
    "unknown-command": Case(["frobnicate"], 2, ["frobnicate"]),
    "missing-argument": Case(["start"], 2, ["NAME@VERSION"]),
    "missing-run-id": Case(["status"], 2, ["Missing argument 'RUN_ID'"]),
    "runs-dir-without-value": Case(["list", "--runs-dir"], 2, ["--runs-dir"], real=True),
    "workflows-dir-without-value": Case(["--workflows-dir"], 2, ["--workflows-dir"]),
    "workflows-dir-missing": Case(
        ["--workflows-dir", "nowhere", *START], 2, ["nowhere", "--workflows-dir"]
    ),
    "list-unknown-status": Case(
        ["list", "--status", "bogus"],
        2,
        ["unknown status 'bogus'; use one of: pending, running"],
        real=True,
    ),
    "list-limit-zero": Case(["list", "--limit", "0"], 2, ["--limit"]),
    "wait-negative-timeout": Case(["wait", UNKNOWN_ID, "--timeout", "-1"], 2, ["--timeout"]),
    "worker-zero-concurrency": Case(["worker", "--concurrency", "0"], 2, ["--concurrency"]),
    "history-traversal": Case(["history", "../x"], 2, ["'../x'", "not a run id"], real=True),
    "status-unknown-run": Case(["status", UNKNOWN_ID], 4, [UNKNOWN_ID], real=True),
    **{
        f"{command}-bad-id-{number}": Case([command, bad], 2, ["not a run id"])
        for command in RUN_COMMANDS
        for number, bad in enumerate(BAD_IDS)
    },
    **{
        f"{command}-unknown-run": Case([command, UNKNOWN_ID], 4, [f"no run {UNKNOWN_ID}"])
        for command in RUN_COMMANDS
    },
    # Run ids are Crockford base32, which ignores case: upper case names the same run.
    **{
        f"{command}-unknown-run-upper-case": Case(
            [command, UNKNOWN_ID.upper()], 4, [f"no run {UNKNOWN_ID}"]
        )
        for command in RUN_COMMANDS
    },
}


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Input files the cases name, in the cwd."""
    (tmp_path / "bad.json").write_text('{"n": oops}')
    (tmp_path / "nan.json").write_text('{"n": NaN}')
    (tmp_path / "latin1.json").write_bytes('{"word": "café"}'.encode("latin-1"))
    return tmp_path


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_in_process(cli: Invoke, inputs: Path, runs: Path, case: Case) -> None:
    outcome = cli(*case.args, stdin=case.stdin)

    assert_one_error(outcome, case.code, *case.fragments)
    assert not runs.exists()


REAL = {name: case for name, case in CASES.items() if case.real}


@pytest.mark.parametrize("case", REAL.values(), ids=REAL.keys())
def test_bad_input_through_the_executable(
    aiki: Invoke, inputs: Path, runs: Path, case: Case
) -> None:
    outcome = aiki(*case.args, stdin=case.stdin)

    assert_one_error(outcome, case.code, *case.fragments)
    assert not runs.exists()


def test_wait_for_an_unknown_run_fails_at_once_not_after_the_timeout(cli: Invoke) -> None:
    assert_one_error(cli("wait", UNKNOWN_ID, "--timeout", "60"), 4, UNKNOWN_ID)


BROKEN_MODULES = {
    "import-error": (
        "import e2e_no_such_module_xyz\n",
        ["ModuleNotFoundError", "e2e_no_such", "(line 1)"],
    ),
    "syntax-error": ("def broken(:\n    pass\n", ["SyntaxError", "line 1"]),
    "raises": ("x = 1\nraise RuntimeError('no\\nconfig')\n", ["RuntimeError: no config (line 2)"]),
    # The line named is the module's, not the one inside the library that raised.
    "library-raises": (
        "import json\n\nCONFIG = json.loads('{')\n",
        ["JSONDecodeError", "(line 3)"],
    ),
    # A module that exits (argparse at import time, say) failed to import like any other.
    "exits": ("import sys\n\nsys.exit(3)\n", ["SystemExit: 3 (line 3)"]),
}


@pytest.fixture(params=BROKEN_MODULES.values(), ids=BROKEN_MODULES.keys())
def broken(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, list[str]]:
    """A workflows directory whose one module fails to import, and what the error names."""
    source, fragments = request.param
    folder = tmp_path / "broken"
    folder.mkdir()
    module = folder / "e2e_broken_module.py"
    module.write_text(source)
    return folder, [str(module), *fragments]


@pytest.mark.parametrize(
    "args",
    [["workflows"], ["workflows", "--json"], ["start", "e2e-echo@1.0.0"], ["worker"]],
    ids=["workflows", "workflows-json", "start", "worker"],
)
def test_a_module_that_fails_to_import_is_named_with_its_error(
    cli: Invoke, runs: Path, broken: tuple[Path, list[str]], args: list[str]
) -> None:
    folder, fragments = broken

    outcome = cli("--workflows-dir", str(folder), *args)

    assert_one_error(outcome, 2, *fragments)
    assert not runs.exists()


def test_a_module_that_fails_to_import_through_the_executable(
    aiki: Invoke, runs: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "e2e_broken_module.py").write_text("import e2e_no_such_module_xyz\n")

    outcome = aiki("start", "e2e-echo@1.0.0", "--workflows-dir", str(folder))

    line = assert_one_error(outcome, 2, "ModuleNotFoundError", "e2e_no_such_module_xyz")
    assert str(folder / "e2e_broken_module.py") in line
    assert not runs.exists()
