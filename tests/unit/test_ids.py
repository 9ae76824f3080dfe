"""Run ids: time-ordered, unguessable, and safe as path components."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiki_cli.errors import BadInput, InvalidRunId
from aiki_cli.values.ids import ALPHABET, RUN_ID, check_run_id, new_run_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GOOD = new_run_id(T0, bytes(range(10)))


def test_new_run_id_is_26_characters_of_the_alphabet() -> None:
    run_id = new_run_id(T0, b"\xff" * 10)
    assert len(run_id) == 26
    assert set(run_id) <= set(ALPHABET)
    assert not set(run_id) & set("ilou")  # Crockford leaves out look-alikes


def test_new_run_id_is_determined_by_time_and_randomness() -> None:
    assert new_run_id(T0, bytes(10)) == new_run_id(T0, bytes(10))
    assert new_run_id(T0, bytes(10)) != new_run_id(T0, b"\x00" * 9 + b"\x01")


def test_new_run_id_needs_ten_random_bytes() -> None:
    with pytest.raises(ValueError, match="10 random bytes"):
        new_run_id(T0, bytes(9))


def test_run_ids_sort_by_creation_time_whatever_their_randomness() -> None:
    earlier = new_run_id(T0, b"\xff" * 10)
    later = new_run_id(T0 + timedelta(milliseconds=1), bytes(10))
    assert earlier < later


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_run_ids_sort_like_their_milliseconds(
    first: datetime, second: datetime, noise1: bytes, noise2: bytes
) -> None:
    first, second = first.replace(tzinfo=UTC), second.replace(tzinfo=UTC)
    millis1, millis2 = int(first.timestamp() * 1000), int(second.timestamp() * 1000)
    id1, id2 = new_run_id(first, noise1), new_run_id(second, noise2)
    if millis1 < millis2:
        assert id1 < id2
    elif millis1 > millis2:
        assert id1 > id2
    assert check_run_id(id1) == id1


def test_check_run_id_accepts_generated_ids() -> None:
    assert check_run_id(GOOD) == GOOD


@pytest.mark.parametrize(
    "text",
    [
        "../x",
        "/etc/passwd",
        "",
        ".",
        "..",
        "../" + GOOD[3:],
        GOOD[:25] + "/",
        GOOD[:25],
        GOOD + "0",
        GOOD[:13] + "\0" + GOOD[14:],
        GOOD + "\n",
        " " + GOOD[1:],
        "i" + GOOD[1:],  # not in the alphabet
    ],
)
def test_check_run_id_refuses_what_is_not_an_id(text: str) -> None:
    with pytest.raises(InvalidRunId) as caught:
        check_run_id(text)
    assert caught.value.exit_code == 2
    assert isinstance(caught.value, BadInput)
    assert caught.value.run_id == text
    assert "not a run id" in caught.value.message


def test_check_run_id_refuses_non_strings() -> None:
    with pytest.raises(InvalidRunId):
        check_run_id(None)  # type: ignore[arg-type]


def test_invalid_run_id_message_shortens_long_text() -> None:
    error = InvalidRunId("x" * 500)
    assert "x" * 41 not in error.message
    assert "…" in error.message


@given(
    st.one_of(
        st.text(),
        st.text(alphabet=ALPHABET + "./\0IOL", min_size=24, max_size=28),
        st.from_regex(RUN_ID, fullmatch=True),
    )
)
def test_whatever_check_run_id_accepts_is_a_safe_path_component(text: str) -> None:
    try:
        accepted = check_run_id(text)
    except InvalidRunId:
        return
    assert accepted == text
    assert "/" not in text and "." not in text and "\0" not in text
    assert len(text) == 26


@given(st.from_regex(RUN_ID, fullmatch=True))
def test_check_run_id_accepts_every_id_of_the_pattern(text: str) -> None:
    assert check_run_id(text) == text


def test_check_run_id_ignores_case_as_crockford_base32_does() -> None:
    assert check_run_id(GOOD.upper()) == GOOD
