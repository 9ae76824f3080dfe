"""The web stack stays inside `aiki ui`: only `aiki_cli/ui/` imports Starlette, uvicorn
or Jinja2, only `cli/ui.py` imports `aiki_cli/ui/` (and only when the command runs), and
the dashboard imports nothing of the CLI's: it is a face of its own over `Client`."""

from __future__ import annotations

import ast

from tests.unit.test_package_shape import PACKAGE, graph, modules

WEB = ("starlette", "uvicorn", "jinja2")


def within(module: str, place: str) -> bool:
    return module == place or module.startswith(place + ".")


def third_party(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_dashboard_imports_the_web_stack() -> None:
    outside = sorted(
        name
        for name, path in modules().items()
        if not within(name, "aiki_cli.ui") and third_party(path.read_text()) & set(WEB)
    )
    assert outside == []


def test_only_the_ui_command_imports_the_dashboard() -> None:
    importers = sorted(
        name
        for name, targets in graph().items()
        if not within(name, "aiki_cli.ui")
        for target in targets
        if within(target, "aiki_cli.ui")
    )
    assert set(importers) == {"aiki_cli.cli.ui"}


def test_the_ui_command_imports_the_dashboard_only_when_it_runs() -> None:
    tree = ast.parse((PACKAGE / "cli" / "ui.py").read_text())
    at_top = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ui")
    ]
    assert at_top == []


def test_the_dashboard_imports_nothing_of_the_cli() -> None:
    crossing = sorted(
        f"{name} -> {target}"
        for name, targets in graph().items()
        if within(name, "aiki_cli.ui")
        for target in targets
        if within(target, "aiki_cli.cli")
    )
    assert crossing == []
