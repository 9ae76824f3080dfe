"""The shape of `aiki_cli`: no import cycle, imports that go down its layers only, and no
module over 450 lines. Every import counts, at module level, under `TYPE_CHECKING` or
inside a function (a lazy import that hides a cycle is still one). Read from the source,
so nothing is imported to check."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import aiki_cli

PACKAGE = Path(aiki_cli.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(source: str, package: str, known: Collection[str]) -> Iterator[str]:
    """The `known` modules that `source` (a module of `package`) imports, anywhere in it."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            origin = node.module or ""
            if node.level:
                origin = f"{base}.{origin}" if origin else base
            for alias in node.names:
                if f"{origin}.{alias.name}" in known:
                    yield f"{origin}.{alias.name}"  # a module: `from . import eager`
                elif origin in known and origin != "aiki_cli":
                    yield origin


def graph() -> dict[str, set[str]]:
    known = modules()
    edges = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges[name] = set(imported(path.read_text(), package, known)) - {name}
    return edges


def reaches(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges.get(name, ()))
    return seen


LAZY = """
from typing import TYPE_CHECKING
from . import eager
from ..values.codec import Codec

if TYPE_CHECKING:
    from .client import Client

def later() -> None:
    from .scheduler import fire
"""


def test_the_reader_sees_lazy_and_type_checking_imports() -> None:
    known = [
        "aiki_cli.cli.eager",
        "aiki_cli.values.codec",
        "aiki_cli.cli.client",
        "aiki_cli.cli.scheduler",
    ]
    assert sorted(imported(LAZY, "aiki_cli.cli", known)) == sorted(known)


def test_no_module_of_the_package_is_in_an_import_cycle() -> None:
    edges = graph()
    assert {
        "aiki_cli.authoring.run",
        "aiki_cli.engine.execution",
        "aiki_cli.store",
        "aiki_cli.cli.app",
    } <= set(edges)
    assert sorted(name for name in edges if name in reaches(edges, name)) == []


# The places of the package, bottom up: each imports only from places below it (and
# from itself). docs/architecture.md draws the same order.
LAYERS = [
    {"errors", "signals", "oslayer", "gc_pause"},
    {"values", "config"},
    {"model"},
    {"store"},
    {"authoring"},
    {"engine"},
    {"client"},
    {"worker"},
    {"cli", "testing", "ui"},
]


def place(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def rank(module: str) -> int:
    return next((n for n, layer in enumerate(LAYERS) if place(module) in layer), len(LAYERS))


def test_every_place_of_the_package_has_a_layer() -> None:
    assert {place(name) for name in graph()} - set().union(*LAYERS) == {"__init__", "__main__"}


def test_imports_go_down_the_layers_only() -> None:
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        for target in targets
        if place(target) != place(name) and rank(target) > rank(name)
    )
    assert upward == []


def test_only_the_stores_own_package_names_a_concrete_store() -> None:
    concrete = ("aiki_cli.store.memory", "aiki_cli.store.files")
    named = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if not name.startswith("aiki_cli.store")
        for target in targets
        if target.startswith(concrete)
    )
    assert named == []


def test_no_module_is_over_450_lines() -> None:
    long = {
        name: lines
        for name, path in modules().items()
        if (lines := len(path.read_text().splitlines())) > 450
    }
    assert long == {}
