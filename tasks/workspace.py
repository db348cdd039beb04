"""Where a run's artefacts live, and the keys they are named by."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

from pydantic import BaseModel

from components import registry
from tasks.storage import digest, file_digest

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


class Workspace:
    """One output root. Tasks exchange paths relative to it, so a job directory can move."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, relative: str | Path) -> Path:
        resolved = (self.root / relative).resolve()
        if not resolved.is_relative_to(self.root):
            raise ValueError(f"artefact path escapes the workspace: {relative}")
        return resolved

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def stage_file(self, stage: str, key: str, suffix: str = ".parquet") -> Path:
        return self.root / "stages" / stage / f"{key}{suffix}"

    @property
    def results(self) -> Path:
        """Prefect's result storage: cache records of this workspace only."""
        return self.root / ".prefect" / "results"


def input_key(relative_path: str) -> str:
    """Artefacts are named by their key: the file name is the input's identity."""
    return Path(relative_path).stem


def stage_key(stage: str, inputs: list[str], config: BaseModel | None, *extra: BaseModel) -> str:
    """Inputs' keys + the stage's configuration + its code version."""
    configs = [c.model_dump(mode="json") for c in (config, *extra) if c is not None]
    backend = getattr(config, "backend", None)
    return digest(stage, [input_key(i) for i in inputs], configs, code_version(stage, backend))


@functools.cache
def code_version(stage: str, backend: str | None) -> str:
    """Hash of the source files a stage's output depends on.

    The component's module and the task modules: an edit to either changes
    the key, so stale outputs are never reused.
    """
    files = sorted((PACKAGE_ROOT / "tasks").glob("*.py")) + [PACKAGE_ROOT / "components" / "types.py"]
    if backend is not None and stage in registry.REGISTRY and backend in registry.REGISTRY[stage]:
        files.append(Path(inspect.getsourcefile(registry.resolve(stage, backend))))
    return digest([file_digest(f) for f in files])
