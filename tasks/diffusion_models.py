"""The base Stable Diffusion pipeline, loaded once per worker thread and reused.

Per thread because a pipeline carries adapters while it trains or generates:
two jobs must not share one at the same time.
"""

from __future__ import annotations

import functools
import threading

from tasks.config import TEST_MODELS, BaseModelConfig, MemoryConfig


def pipeline_for(config: BaseModelConfig, memory: MemoryConfig | None = None):
    """The thread's pipeline with `memory`'s options set (generation), or with none (training: an
    offloaded pipeline cannot train, and VAE tiling would change the latents it learns from)."""
    from components.diffusion.memory import MemoryOptions, apply_memory_options

    pipeline = _load(config.spec, config.trust_pickle, config.seed, config.vae, threading.get_ident())
    options = MemoryOptions(**memory.component_options()) if memory is not None else MemoryOptions()
    return apply_memory_options(pipeline, options, device())


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def _load(spec: str, trust_pickle: bool, seed: int, vae: str | None, thread: int):
    import torch

    from components.diffusion.base_model import load_base_model

    on_gpu = device() == "cuda"
    pipeline = load_base_model(spec, allow_pickle=trust_pickle, seed=seed, vae=vae,
                               torch_dtype=torch.float16 if on_gpu and spec not in TEST_MODELS else None, device=device())
    return pipeline
