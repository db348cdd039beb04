"""A progress bar over (stage, batch) steps, on stderr."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm


class StageProgress:
    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.enabled = total, enabled
        self._bar = None

    def __enter__(self) -> "StageProgress":
        if self.enabled and self.total:
            self._bar = tqdm(total=self.total, unit="batch-stage", file=sys.stderr, dynamic_ncols=True)
        return self

    def advance(self, stage: str, steps: int) -> None:
        if self._bar is not None:
            self._bar.set_description(stage)
            self._bar.update(steps)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()


class ArtefactWatch:
    """Reports (stage, batch) steps as their artefacts are written, from any process or machine that writes them.

    A batch's stages all run in one task run (its chain), in a thread, a
    process or a Dask worker: the artefacts on disk are what all of them share.
    An artefact counts as written when it appears or is replaced (a forced
    re-run rewrites one that existed). `written` holds the paths seen written.
    """

    def __init__(self, root: Path, pending: list[tuple[str, str]], advance: Callable[[str, int], None],
                 interval: float = 0.5) -> None:
        self.root, self.advance, self.interval = Path(root), advance, interval
        self._before = {path: _stamp(self.root / path) for _, path in pending}
        self._pending = list(pending)
        self.written: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="artefact-watch", daemon=True)

    def __enter__(self) -> "ArtefactWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._check()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._check()

    def _check(self) -> None:
        still = []
        for stage, path in self._pending:
            stamp = _stamp(self.root / path)
            if stamp is not None and stamp != self._before[path]:
                self.written.add(path)
                self.advance(stage, 1)
            else:
                still.append((stage, path))
        self._pending = still


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns
