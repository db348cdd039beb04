"""Where a job's artefacts live: paths relative to one root, so a job directory can move."""

from __future__ import annotations

from pathlib import Path


class Workspace:
    """One output root. Tasks exchange paths relative to it; none may leave it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, relative: str | Path) -> Path:
        resolved = (self.root / relative).resolve()
        if not resolved.is_relative_to(self.root):
            raise ValueError(f"artefact path escapes the workspace: {relative}")
        return resolved

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()


def input_key(relative_path: str) -> str:
    """Artefacts are named by their key: the file name is the input's identity."""
    return Path(relative_path).stem
