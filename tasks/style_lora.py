"""A style LoRA attached to a pipeline for the duration of one generation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def style_lora_loaded(pipeline, path: str | None, weight: float) -> Iterator[None]:
    """The LoRA as the named adapter "style" at `weight` (no path: nothing attached)."""
    if not path:
        yield
        return
    from safetensors.torch import load_file

    from components.diffusion.generate import as_pipeline_lora

    pipeline.load_lora_weights(as_pipeline_lora(load_file(path)), adapter_name="style")
    pipeline.set_adapters(["style"], adapter_weights=[weight])
    try:
        yield
    finally:
        pipeline.unload_lora_weights()
