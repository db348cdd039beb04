"""What the ControlNet stages share: the ControlNet pipelines (per thread, on the base model's
modules), the person's identity (face LoRA, or the face adapter with the person's embeddings),
the prompt and the generation request.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from components.diffusion.styles import build_prompt
from tasks.config import BaseModelConfig, ControlNetConfig, GenerateConfig, TrainFreeConfig
from tasks.diffusion_models import device, pipeline_for
from tasks.job_style import JobStyle, make_request, style_state_dicts
from tasks.portrait_rows import curated_ok
from tasks.workspace import Workspace


def pose_pipeline_for(config: ControlNetConfig, base: BaseModelConfig):
    return _pipelines(config, base, threading.get_ident())[0]


def inpaint_pipeline_for(config: ControlNetConfig, base: BaseModelConfig):
    return _pipelines(config, base, threading.get_ident())[1]


@functools.cache
def _pipelines(config: ControlNetConfig, base: BaseModelConfig, thread: int):
    """Per thread, like the base pipeline: both share its modules, which carry adapters while in use."""
    from components.diffusion.controlled import inpaint_pipeline, pose_pipeline
    from components.diffusion.controlnet import load_controlnet

    pipeline = pipeline_for(base)
    dtype = pipeline.unet.dtype
    openpose, canny = (load_controlnet(spec, unet=pipeline.unet, seed=config.seed + i, allow_pickle=config.trust_pickle,
                                      torch_dtype=dtype).to(pipeline.device)
                       for i, spec in enumerate((config.openpose, config.canny)))
    return pose_pipeline(pipeline, openpose), inpaint_pipeline(pipeline, [openpose, canny])


def identity_for(root: str, part: str, lora: str | None, base: BaseModelConfig, style: JobStyle,
                 train_free: TrainFreeConfig | None):
    """LoraIdentity (trained mode: `lora`, relative to `root`) or AdapterIdentity (train-free) of
    the person curated in `part`; the style's LoRAs either way (named as `make_request` names them)."""
    from pathlib import Path

    from safetensors.torch import load_file

    from components.diffusion.controlled import AdapterIdentity, LoraIdentity

    style_loras = style_state_dicts(style, trust_pickle=base.trust_pickle)
    if train_free is None:
        if lora is None:
            raise ValueError("the trained mode needs the person's face LoRA")
        return LoraIdentity(load_file(Workspace(root).path(lora)), style_loras, device())
    from components.adapters.infer import AdapterGenerator
    from components.adapters.weights import weights_from_bytes

    weights = weights_from_bytes(Path(train_free.adapter_file()).read_bytes())
    embeddings = np.asarray([r.embedding for r in curated_ok(root, part)], np.float32)
    return AdapterIdentity(AdapterGenerator(pipeline_for(base), weights), embeddings, scale=train_free.scale,
                           face_guidance=train_free.face_guidance, style_loras=style_loras, device=device())


def person_prompt(root: str, part: str, style: JobStyle) -> tuple[str, str]:
    return build_prompt(style, curated_ok(root, part)[0].trigger_word or "a person")


def generate_posed(root: str, output: str, inputs: dict[str, str], pose_map: np.ndarray, size: int,
                   generate: GenerateConfig, base: BaseModelConfig, style: JobStyle, pose_generate,
                   controlnets: ControlNetConfig, train_free: TrainFreeConfig | None, gpu) -> None:
    """The person of `inputs["curate"]` (LoRA `inputs["train"]` or the adapter) in `pose_map`'s pose:
    one portrait row per seed, `size` square."""
    import cv2

    from components import registry
    from tasks.gpu import gpu_slot
    from tasks.imaging import encode_png
    from tasks.portrait_rows import generated_rows, write_rows

    if pose_map.shape[:2] != (size, size):
        pose_map = cv2.resize(pose_map, (size, size), interpolation=cv2.INTER_NEAREST)
    part = inputs["curate"]
    prompt, negative = person_prompt(root, part, style)
    seeds = [generate.seed + i for i in range(generate.num_images)]
    with gpu_slot(gpu):
        identity = identity_for(root, part, inputs.get("train"), base, style, train_free)
        generator = registry.create("pose-generate", pose_generate.backend,
                                    pipeline=pose_pipeline_for(controlnets, base), **pose_generate.component_options())
        request = make_request(generate, style, prompt, negative, seeds, size, size)
        images = generator.generate(identity, request, pose_map, pose_generate.pose_scale)
    write_rows(root, output, generated_rows(seeds, [encode_png(i) for i in images], style.name, prompt, negative))
