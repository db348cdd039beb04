"""Style LoRAs attached to a pipeline for the duration of one generation (the train-free generator's way)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence


@contextlib.contextmanager
def style_loras_loaded(pipeline, loras: Sequence[tuple[str, dict, float]]) -> Iterator[None]:
    """Each (adapter name, state dict, weight) as a named adapter at its weight; none: nothing attached.

    Every LoRA is checked before any is loaded (`attach_loras`), and the
    pipeline is left without adapters afterwards, on error too.
    """
    from components.diffusion.generate import attach_loras, detach_loras

    names = attach_loras(pipeline, loras)
    try:
        yield
    finally:
        detach_loras(pipeline, names)
