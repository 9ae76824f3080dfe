"""Loading the workflow modules of a workflows directory.

Every `*.py` file in the directory (not starting with `_`) is imported; every `Workflow`
or `WorkflowVersion` it defines at module level is collected. Each module is imported
under its own name with the directory on `sys.path`, so `import pricing` in one module
gives the very module the loader imported, not a second copy.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import CodeType, FunctionType, ModuleType

from ..errors import WorkflowLoadError
from .task import Task
from .workflow import Workflow, WorkflowVersion


def load_workflows(directory: Path) -> dict[str, WorkflowVersion]:
    """The versions defined in `directory`, by `name@version`."""
    if not directory.is_dir():
        raise WorkflowLoadError(
            str(directory), "no such workflows directory; create it or pass --workflows-dir"
        )
    found: dict[str, WorkflowVersion] = {}
    origin: dict[str, Path] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        for version in _versions_in(_import(path, directory)):
            if version.ref in found and found[version.ref] is not version:
                raise WorkflowLoadError(
                    str(path), f"{version.ref} is also defined in {origin[version.ref].name}"
                )
            found[version.ref] = version
            origin[version.ref] = path
    return found


def _import(path: Path, directory: Path) -> ModuleType:
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if _same_file(getattr(loaded, "__file__", None), path):
            return loaded
        raise WorkflowLoadError(str(path), f"its name shadows the module {name!r}; rename the file")
    folder = str(directory.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a module that calls sys.exit() failed too
        del sys.modules[name]
        raise WorkflowLoadError(str(path), f"failed to import: {_describe(error, path)}") from error
    return module


def _same_file(loaded: str | None, path: Path) -> bool:
    return loaded is not None and Path(loaded).resolve() == path.resolve()


def _describe(error: BaseException, path: Path) -> str:
    if isinstance(error, SyntaxError):
        return f"SyntaxError at line {error.lineno}: {error.msg}"
    # The line is the module's own, not one inside whatever library raised.
    tb = traceback.extract_tb(error.__traceback__)
    frames = [f for f in tb if _same_file(f.filename, path)]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def _versions_in(module: ModuleType) -> list[WorkflowVersion]:
    versions: list[WorkflowVersion] = []
    for value in vars(module).values():
        if isinstance(value, Workflow):
            versions.extend(value.versions.values())
        elif isinstance(value, WorkflowVersion):
            versions.append(value)
    return versions


def tasks_of(version: WorkflowVersion) -> list[str]:
    """The names of the tasks `version` calls: those its function names, directly or
    through other functions of its module."""
    module = sys.modules.get(getattr(version.exec, "__module__", ""))
    if module is None:
        return []
    names: set[str] = set()
    seen: set[CodeType] = set()
    pending = [version.exec.__code__]
    while pending:
        code = pending.pop()
        if code in seen:
            continue
        seen.add(code)
        pending += [c for c in code.co_consts if isinstance(c, CodeType)]
        for value in (vars(module).get(name) for name in code.co_names):
            if isinstance(value, Task):
                names.add(value.name)
            elif isinstance(value, FunctionType) and value.__module__ == module.__name__:
                pending.append(value.__code__)
    return sorted(names)
