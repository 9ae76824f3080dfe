"""The rules for workflow names, task names and versions."""

from __future__ import annotations

import re

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
VERSION = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")


def check_text(what: str, text: str, limit: int = 256) -> str:
    """Text a user names things with (keys, event names, reference ids): storable UTF-8,
    not empty, at most `limit` characters; ValueError otherwise."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid UTF-8 text") from None
    if not 0 < len(text) <= limit:
        raise ValueError(f"{what} must be 1 to {limit} characters")
    return text


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"{kind} name {name!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-'"
        )
    return name


def check_version(version: str) -> str:
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise ValueError(f"version {version!r} is not a semantic version like '1.0.0'")
    return version


def split_ref(ref: str) -> tuple[str, str]:
    """`name@version` as its two parts; ValueError naming the part that is wrong."""
    name, at, version = ref.partition("@")
    if not at or not name or not version:
        raise ValueError(f"{ref!r} is not of the form name@version, e.g. order-processing@1.0.0")
    if not NAME.fullmatch(name):
        raise ValueError(
            f"{ref!r}: workflow name {name!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-'"
        )
    if not VERSION.fullmatch(version):
        raise ValueError(
            f"{ref!r}: version {version!r} is not semver (MAJOR.MINOR.PATCH); "
            f"write it like {name}@1.0.0"
        )
    return name, version
