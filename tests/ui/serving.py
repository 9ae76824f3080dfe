"""`aiki ui` as a real process for the tests: started in its own process group, its URL
read from the first line of its stdout, and stopped (SIGINT, then the group killed)
whatever the test did."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.support import AIKI

from .conftest import WORKFLOWS

URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]+)")
STOP_WITHIN = 20.0


def environment(**extra: str) -> dict[str, str]:
    """The test's environment without aiki's settings, a display or a browser, plus `extra`."""
    dropped = ("AIKI_", "DISPLAY", "WAYLAND_DISPLAY", "BROWSER")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, "AIKI_WORKFLOWS_DIR": str(WORKFLOWS), **extra}


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str  # as printed, with the token
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        """Stop it with `sig`; its exit status and what it wrote after the URL."""
        self.process.send_signal(sig)
        stdout, stderr = self.process.communicate(timeout=STOP_WITHIN)
        return self.process.returncode, stdout, stderr


@contextmanager
def serving(runs: Path, *args: str, cwd: Path) -> Iterator[Served]:
    """`aiki ui --port 0 --no-open` over the store `runs`, until the block ends."""
    process = spawn(["--runs-dir", str(runs), "ui", "--port", "0", "--no-open", *args], cwd)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = URL.fullmatch(first.strip())
        assert found is not None, (first, process.poll())
        yield Served(process, found.group(0), int(found.group(1)))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_WITHIN)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def spawn(args: Sequence[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*AIKI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=environment(**env),
        start_new_session=True,
    )
