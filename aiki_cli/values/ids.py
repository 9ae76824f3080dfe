"""Run and worker ids: generated, time-ordered, unguessable, and safe as path components.

A run id is 26 lower-case Crockford base32 characters: 10 for the creation time in
milliseconds (so ids sort by age) and 16 for 80 random bits (so they cannot be guessed).
"""

from __future__ import annotations

import re
from datetime import datetime

from ..errors import InvalidRunId

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RUN_ID = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")


def _encode(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_run_id(now: datetime, random_bytes: bytes) -> str:
    """The id of a run created at `now`, with 10 bytes of randomness."""
    if len(random_bytes) != 10:
        raise ValueError("a run id needs exactly 10 random bytes")
    millis = int(now.timestamp() * 1000) & (2**50 - 1)
    return _encode(millis, 10) + _encode(int.from_bytes(random_bytes, "big"), 16)


def check_run_id(text: str) -> str:
    """`text` as a run id (Crockford base32 ignores case), else `InvalidRunId`; runs before
    any file access."""
    if not isinstance(text, str) or not RUN_ID.fullmatch(text.lower()):
        raise InvalidRunId(str(text))
    return text.lower()
