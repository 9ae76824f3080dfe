"""How wide human output is drawn when it does not go to a terminal: as wide as the
terminal the user looks at (`aiki status ID | less`), unless COLUMNS says otherwise."""

from __future__ import annotations

import contextlib
import os
import sys

DEFAULT_WIDTH = 200  # off any terminal (a CI log): wide, so timelines do not wrap


def width_off_terminal() -> int:
    """The width off a terminal (`aiki status ID | less`)."""
    return choose_width(os.environ.get("COLUMNS", ""), terminal_width())


def choose_width(columns: str, terminal: int | None) -> int:
    """COLUMNS when it is a positive whole number (set on purpose: it wins, as in rich),
    else the controlling terminal's width, else `DEFAULT_WIDTH`."""
    columns = columns.strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return terminal if terminal else DEFAULT_WIDTH


def terminal_width() -> int | None:
    """The width of the terminal the user looks at: stderr's or stdin's when one of them is
    a terminal, else the process's controlling terminal (/dev/tty); None without one."""
    for stream in (sys.stderr, sys.stdin):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            if columns := os.get_terminal_size(stream.fileno()).columns:
                return columns
    try:
        tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return None
    try:
        return os.get_terminal_size(tty).columns or None
    except OSError:
        return None
    finally:
        os.close(tty)
