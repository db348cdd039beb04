"""A training progress bar with the loss, on stderr, for the trainers' progress callback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def training_progress(total: int, label: str) -> Iterator[Callable[[int, int, float], None]]:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, file=sys.stderr, dynamic_ncols=True)

    def report(step: int, steps: int, loss: float) -> None:
        bar.n = step  # a resumed run starts past 0
        bar.set_postfix(loss=f"{loss:.4f}")
        bar.refresh()

    try:
        yield report
    finally:
        bar.close()
