"""Durations as users write them: seconds, a timedelta, or text like "1h30m"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aiki_cli.values.duration import MAX, parse_duration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, timedelta(seconds=30)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(minutes=2), timedelta(minutes=2)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5h", timedelta(minutes=90)),
        ("90", timedelta(seconds=90)),
        (" 5M ", timedelta(minutes=5)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
    ],
)
def test_durations_are_read(value: Any, expected: timedelta) -> None:
    assert parse_duration(value) == expected


def test_ten_years_is_the_longest() -> None:
    assert parse_duration(MAX) == MAX
    assert parse_duration("3653d") == MAX


@pytest.mark.parametrize(
    "value",
    [
        0,
        0.0,
        "0s",
        -1,
        timedelta(seconds=-5),
        timedelta(0),
        True,
        False,
        "5x",
        "",
        "   ",
        "m",
        "5 m",
        "-5m",
        "m5",
        "5m5",
        MAX + timedelta(seconds=1),
        "3654d",
        10 * 366 * 86400,
        None,
        [5],
    ],
    ids=repr,
)
def test_bad_durations_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (0, "above zero"),
        (-3, "above zero"),
        ("3654d", "at most ten years"),
        (True, "not a bool"),
        ("5x", "'5x'"),
        ("", "is not like '30s'"),
        ("m", "'m'"),
        (None, "seconds, a timedelta"),
    ],
    ids=repr,
)
def test_refusals_name_what_was_being_read(value: Any, detail: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value, "the duration of sleep 'nap'")
    message = str(caught.value)
    assert message.startswith("the duration of sleep 'nap'")
    assert detail in message


def test_what_defaults_to_duration() -> None:
    with pytest.raises(ValueError, match=r"^duration "):
        parse_duration("soon")
