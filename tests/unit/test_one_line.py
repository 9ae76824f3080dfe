"""`one_line`: how every error said in one line (the CLI's `error:` line, a bad aiki.yaml,
a worker's log of a failed run) folds a message that spans lines."""

import pytest

from aiki_cli.errors import one_line


@pytest.mark.parametrize(
    "text, line",
    [
        ("plain", "plain"),
        (
            "while parsing\n  in 'aiki.yaml', line 1\r\n\tcolumn 5 ",
            "while parsing in 'aiki.yaml', line 1 column 5",
        ),
        ("", ""),
        (" \n\t ", ""),
    ],
)
def test_white_space_and_line_breaks_fold_into_single_spaces(text: str, line: str) -> None:
    assert one_line(text) == line
