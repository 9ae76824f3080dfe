"""What a user sees on a terminal: a command run with its stderr on a pseudo-terminal, and
the bytes it wrote played onto a screen (the few control sequences rich uses to draw and
erase a live line), so a test reads the screen, not escape codes."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

CSI = re.compile(rb"\x1b\[([?0-9;]*)([A-Za-z])")


class Screen:
    """Lines of text and a cursor; bytes are played onto it as a terminal would."""

    def __init__(self) -> None:
        self.lines: list[str] = [""]
        self.row = 0
        self.col = 0

    def play(self, data: bytes) -> None:
        text = data.decode("utf-8", errors="replace").encode()  # keep indexes as bytes
        at = 0
        while at < len(text):
            match = CSI.match(text, at)
            if match:
                self._control(match.group(1).decode(), match.group(2).decode())
                at = match.end()
                continue
            char_end = at + 1
            while char_end < len(text) and (text[char_end] & 0xC0) == 0x80:
                char_end += 1  # one UTF-8 character
            self._char(text[at:char_end].decode())
            at = char_end

    def _char(self, char: str) -> None:
        if char == "\r":
            self.col = 0
        elif char == "\n":
            self.row += 1
            self.col = 0
            while len(self.lines) <= self.row:
                self.lines.append("")
        elif char >= " ":
            line = self.lines[self.row].ljust(self.col)
            self.lines[self.row] = line[: self.col] + char + line[self.col + 1 :]
            self.col += 1

    def _control(self, args: str, code: str) -> None:
        count = int(args) if args.isdigit() else 1
        if code == "A":
            self.row = max(0, self.row - count)
        elif code == "B":
            self.row += count
            while len(self.lines) <= self.row:
                self.lines.append("")
        elif code == "G":
            self.col = count - 1
        elif code == "K":
            line = self.lines[self.row]
            self.lines[self.row] = "" if args == "2" else line[: self.col]
        # m (colours), ?25l / ?25h (cursor hidden / shown) change no text

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines).strip("\n")


class OnTerminal:
    """A command running with stderr on a pseudo-terminal and stdout on a pipe (or on the
    terminal too, with `stdout_too`)."""

    def __init__(
        self, args: list[str], cwd: Path, env: Mapping[str, str], *, stdout_too: bool = False
    ) -> None:
        main, side = pty.openpty()
        os.set_blocking(main, False)
        self.main = main
        self.screen = Screen()
        self.raw = b""
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=side if stdout_too else subprocess.PIPE,
            stderr=side,
            cwd=cwd,
            env={**env, "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(side)

    def read(self, timeout: float = 0.05) -> None:
        ready, _, _ = select.select([self.main], [], [], timeout)
        if ready:
            try:
                data = os.read(self.main, 65536)
            except OSError:  # the other side closed: the process ended
                return
            self.raw += data
            self.screen.play(data)

    def until(self, seen: Callable[[str], bool], timeout: float = 30.0) -> str:
        """Read until the screen satisfies `seen`; the screen's text."""
        deadline = time.monotonic() + timeout
        while not seen(self.screen.text):
            assert time.monotonic() < deadline, self.screen.text
            self.read()
        return self.screen.text

    def finish(self, timeout: float = 30.0) -> tuple[int, str]:
        """Wait for the exit; its code and stdout. The screen holds all of stderr."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, self.screen.text
            self.read()
        stdout, _ = self.process.communicate(timeout=timeout)
        stdout = stdout or b""
        for _ in range(100):
            before = len(self.raw)
            self.read(0.01)
            if len(self.raw) == before:
                break
        os.close(self.main)
        self.main = -1
        return self.process.returncode, stdout.decode()

    def kill(self) -> None:
        """Kill the command if it still runs; close what it was given."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()
        if self.main >= 0:
            os.close(self.main)
            self.main = -1
