"""generate (train-free): images in the style conditioned on the trained face adapter, no face LoRA."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from components import registry
from components.diffusion.styles import Style, build_prompt
from tasks.config import BaseModelConfig, FastConfig, GenerateConfig, MemoryConfig, TrainFreeConfig
from tasks.diffusion_models import pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.imaging import encode_png
from tasks.portrait_rows import curated_ok, generated_rows, write_rows
from tasks.style_lora import style_lora_loaded


def generate_with_adapter(root: str, output: str, inputs: dict[str, str], generate: GenerateConfig,
                          base: BaseModelConfig, style: Style, train_free: TrainFreeConfig,
                          fast: FastConfig | None = None, memory: MemoryConfig | None = None,
                          gpu: GpuConfig | None = None) -> None:
    from components.adapters.weights import weights_from_bytes
    from components.diffusion.fast import load_fast_lora

    adapter = Path(train_free.adapter_file())
    if not adapter.is_file():
        raise FileNotFoundError(f"no trained adapter at {adapter}: run `python -m flows train-adapter` first")
    records = curated_ok(root, inputs["curate"])
    prompt, negative = build_prompt(style, records[0].trigger_word or "a person")
    seeds = [generate.seed + i for i in range(generate.num_images)]
    embeddings = np.asarray([r.embedding for r in records], np.float32)  # several photos: concatenated tokens
    quick = load_fast_lora(**fast.component_options()) if fast is not None else None
    with gpu_slot(gpu):
        pipeline = pipeline_for(base, memory)
        # built before any LoRA wraps the UNet's layers: FeedFace copies blocks of the plain UNet
        generator = registry.create("generate", train_free.backend, pipeline=pipeline,
                                    weights=weights_from_bytes(adapter.read_bytes()))
        with style_lora_loaded(pipeline, style.lora, style.style_weight, fast=quick) as plan:
            images = generator.generate(
                prompt, negative, embeddings, seeds=seeds,
                steps=plan.steps if plan else generate.steps or style.steps,
                guidance_text=plan.guidance if plan else None,
                face_guidance=train_free.face_guidance, scale=train_free.scale,
                width=generate.resolution or style.width, height=generate.resolution or style.height)
    write_rows(root, output, generated_rows(seeds, [encode_png(i) for i in images], style.name, prompt, negative))
