"""A `--json` document's text (`cli/jsontext.py`) is `json.dumps(document, indent=2,
ensure_ascii=False)`'s, character for character, whatever the document holds: nested or
flat, empty containers, text needing escapes or outside ASCII, floats of every form,
keys that are no text, values of subclasses of the JSON types."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aiki_cli.cli.jsontext import dumps

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
keys = st.text() | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=5)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=40,
)


def standard(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_the_text_is_json_dumps_indent_2(document: Any) -> None:
    assert dumps(document) == standard(document)


def test_a_run_document_of_every_shape_is_the_standard_text() -> None:
    document = {
        "id": "01kdwz0m00000000000000000a",
        "input": {"k": 3, "deep": [[], {}, [1, [2, {"x": None}]], 'é\n"\u0007']},
        "result": [1.5, 1e-07, 1e16, -0.0, math.inf, -math.inf, math.nan, 10**20],
        "error": None,
        "children": [],
        "tasks": [
            {"name": "a", "status": "completed", "duration_ms": 0.012, "error": None},
            {"name": "b", "status": "failed", "error": {"type": "ValueError", "message": "x"}},
        ],
        "empty": {},
    }
    assert dumps(document) == standard(document)
    assert dumps({}) == "{}" and dumps([]) == "[]" and dumps("text") == '"text"'


class Text(str):
    pass


class Number(int):
    pass


def test_subclasses_of_json_types_are_written_as_json_dumps_writes_them() -> None:
    document = {"a": [Text("x"), Number(3)], "b": {"c": Text("y")}, "d": OrderedDict(e=[1])}
    assert dumps(document) == standard(document)


def test_keys_that_are_no_text_are_written_as_json_dumps_writes_them() -> None:
    document = {1: [1, {2.5: True}], None: {"a": [None]}, False: {}, 3.0: [[]]}
    assert dumps(document) == standard(document)
