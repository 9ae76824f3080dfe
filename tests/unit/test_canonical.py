"""Canonical JSON and the content address of a task call (SPEC §3)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiki_cli.values.canonical import Address, address, canonical_json, input_hash

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def test_keys_are_sorted_and_there_is_no_whitespace() -> None:
    assert canonical_json({"b": [1, 2], "a": {"d": None, "c": True}}) == (
        '{"a":{"c":true,"d":null},"b":[1,2]}'
    )


def test_unicode_is_kept_not_escaped() -> None:
    assert canonical_json({"name": "José ✓ 日本"}) == '{"name":"José ✓ 日本"}'


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(number: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": number})


def test_input_hash_is_sha256_hex() -> None:
    digest = input_hash({"a": 1})
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


def test_input_hash_is_stable_across_calls_and_key_order() -> None:
    one = {"order": {"id": 7, "items": ["a", "b"]}, "amount": 12.5}
    other = {"amount": 12.5, "order": {"items": ["a", "b"], "id": 7}}
    assert input_hash(one) == input_hash(other) == input_hash(json.loads(json.dumps(one)))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"a": 1}, {"a": 2}),
        ([1, 2], [2, 1]),
        (1, "1"),
        (True, 1),
        (None, "null"),
        ({"a": None}, {}),
        ("é", "e"),
    ],
)
def test_input_hash_differs_for_different_values(one: Any, other: Any) -> None:
    assert input_hash(one) != input_hash(other)


def test_address_names_the_task_and_hash() -> None:
    where = address("charge", {"amount": 3})
    assert where == Address("charge", input_hash({"amount": 3}))
    assert str(where) == f"charge#{where.hash[:12]}"


@given(json_values)
def test_canonical_json_is_a_fixed_point_of_parsing(value: Any) -> None:
    text = canonical_json(value)
    assert canonical_json(json.loads(text)) == text


@given(st.dictionaries(st.text(max_size=8), json_values, min_size=2, max_size=6))
def test_input_hash_ignores_key_order(value: dict[str, Any]) -> None:
    reordered = dict(reversed(list(value.items())))
    assert input_hash(reordered) == input_hash(value)
