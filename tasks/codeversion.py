"""The code version of a stage: its modules and every project module they import, transitively.

Computed from the import graph read with `ast` (imports inside functions
included, since heavy packages are imported lazily there), without importing
anything: `status` and re-run planning use it, and they must not pay for
torch or dlib. Only the project's own packages count; installed packages are
pinned by requirements.txt.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("components", "tasks", "flows")


def module_file(module: str, root: Path = PROJECT_ROOT) -> Path | None:
    """The source file of a project module (`a.b` -> a/b.py or a/b/__init__.py); None if not ours."""
    if module.split(".", 1)[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Every module an import statement in `source` may load (`from a import b`: a, and a.b if a module)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            if base:
                found.update(_with_parents(base))
                found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def module_closure(modules: Iterable[str], root: Path = PROJECT_ROOT) -> list[Path]:
    """The project files of `modules` and of everything they import, transitively, sorted."""
    seen: dict[str, Path] = {}
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = module_file(module, root)
        if path is None:
            continue
        seen[module] = path
        info = path.stat()
        pending.extend(_imports_of(str(path), module, info.st_mtime_ns, info.st_size))
    return sorted(set(seen.values()))


def code_version(modules: Iterable[str], root: Path = PROJECT_ROOT) -> str:
    """Hash of the closure's files, each named by its path relative to the project."""
    h = hashlib.sha256()
    for path in module_closure(modules, root):
        info = path.stat()
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(_file_hash(str(path), info.st_mtime_ns, info.st_size).encode())
    return h.hexdigest()[:24]


# Parsing and hashing are remembered per file version (time and size): planning asks for the
# same closures many times, and an edited file is read again.
@functools.cache
def _imports_of(path: str, module: str, mtime_ns: int, size: int) -> frozenset[str]:
    return frozenset(imported_modules(Path(path).read_text(encoding="utf-8"), module, path.endswith("__init__.py")))


@functools.cache
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a/__init__.py and a/b/__init__.py too."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, *([module] if module else [])]) or None
