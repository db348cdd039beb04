"""A style LoRA (and a fast-sampling LoRA) attached to a pipeline for the duration of one generation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def style_lora_loaded(pipeline, path: str | None, weight: float, fast=None) -> Iterator:
    """The LoRA as the named adapter "style" at `weight` (no path: nothing attached), refused when made for
    another model family. `fast` (components.diffusion.fast.FastLora): its LoRA and scheduler too; yields
    its plan (sample with its steps and guidance), else None."""
    from components.diffusion.fast import fast_sampling
    from components.diffusion.generate import STYLE_ADAPTER, loras_loaded

    loras = []
    if path:
        from safetensors.torch import load_file

        loras.append((STYLE_ADAPTER, load_file(path), weight))
    if fast is None:
        with loras_loaded(pipeline, loras):
            yield None
    else:
        with fast_sampling(pipeline, fast, loras) as plan:
            yield plan
