"""File-backed `CheckpointStore` for resumable training: step-N.safetensors, atomically written."""

from __future__ import annotations

import re
from pathlib import Path

from tasks.storage import atomic_write_bytes

_NAME = re.compile(r"^step-(\d+)\.safetensors$")


class FileCheckpointStore:
    def __init__(self, folder: Path, keep: int = 2) -> None:
        self.folder, self.keep = Path(folder), keep

    def _steps(self) -> list[tuple[int, Path]]:
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NAME.match(p.name))]
        return sorted(found)

    def latest(self) -> tuple[int, bytes] | None:
        steps = self._steps()
        return (steps[-1][0], steps[-1][1].read_bytes()) if steps else None

    def save(self, step: int, payload: bytes) -> None:
        atomic_write_bytes(self.folder / f"step-{step}.safetensors", payload)
        for _, old in self._steps()[: -self.keep]:
            old.unlink(missing_ok=True)
