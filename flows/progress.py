"""A progress bar over (stage, batch) steps, on stderr."""

from __future__ import annotations

import sys

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
