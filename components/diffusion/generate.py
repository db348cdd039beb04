"""Text-to-image with the user's face LoRA and an optional style LoRA as PEFT adapters.

Works on any family's pipeline (SD 1.5, SDXL): a LoRA made for another family is
refused (components.diffusion.lora_family). An optional fast-sampling LoRA
(components.diffusion.fast) is loaded as one more adapter and sets the sampler,
steps and guidance.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch

from components.diffusion.lora_family import check_lora_family
from components.diffusion.memory import is_offloaded
from components.diffusion.samplers import check_sampler, scheduler_for
from components.types import GenerationRequest

FACE_ADAPTER, STYLE_ADAPTER = "face", "style"
# Key prefixes diffusers' loader routes by; a bare UNet state dict has none of them.
_ROUTED_PREFIXES = ("unet.", "text_encoder.", "text_encoder_2.", "lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")


class PeftGenerator:
    """`call_kwargs` go to every pipeline call as they are: a ControlNet pipeline's control
    image and scale, an inpainting pipeline's image, mask and strength."""

    def __init__(self, pipeline, device: str = "cpu", fast=None, call_kwargs: dict | None = None):
        """`fast`: a components.diffusion.fast.FastLora, or None for the style's own sampling."""
        # an offloaded pipeline's hooks move each model to the GPU while it runs: moving it would undo that
        self.pipeline = pipeline if is_offloaded(pipeline) else pipeline.to(device)
        self.device = device
        self.fast = fast
        self.call_kwargs = dict(call_kwargs or {})

    def generate(
        self, request: GenerationRequest, face_lora: dict | None, style_lora: dict | None
    ) -> list[np.ndarray]:
        """One HxWx3 uint8 image per seed; the pipeline is left without adapters and with its scheduler."""
        check_request(request)
        pipeline = self.pipeline
        if self.fast is not None:
            request = self.fast.apply(request)
        scheduler = scheduler_for(request.sampler, pipeline.scheduler.config)
        adapters = [(FACE_ADAPTER, face_lora, request.face_weight), (STYLE_ADAPTER, style_lora, request.style_weight)]
        if self.fast is not None:
            adapters.append(self.fast.adapter())
        original_scheduler = pipeline.scheduler
        with loras_loaded(pipeline, [(name, lora, weight) for name, lora, weight in adapters if lora]):
            try:
                pipeline.scheduler = scheduler
                images: list[np.ndarray] = []
                for start in range(0, len(request.seeds), request.batch_size):
                    images.extend(self._generate_batch(request, request.seeds[start : start + request.batch_size]))
                return images
            finally:
                pipeline.scheduler = original_scheduler

    def _generate_batch(self, request: GenerationRequest, seeds: list[int]) -> list[np.ndarray]:
        # One CPU generator per image: its initial noise depends on its seed only,
        # not on the batch it lands in, and is the same on any device.
        generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]
        with torch.no_grad():
            output = self.pipeline(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt or None,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance,
                width=request.width,
                height=request.height,
                num_images_per_prompt=len(seeds),
                generator=generators,
                output_type="np",
                **self.call_kwargs,
            )
        return [_to_uint8(image) for image in output.images]


def as_pipeline_lora(state_dict: dict) -> dict:
    """A copy of a LoRA state dict that pipeline.load_lora_weights routes to the UNet.

    LoraWeights.state_dict is bare (keys without "unet.", as save_lora_weights
    wants them); load_lora_weights silently loads nothing from bare keys.
    """
    if any(key.startswith(_ROUTED_PREFIXES) for key in state_dict):
        return dict(state_dict)
    return {f"unet.{key}": value for key, value in state_dict.items()}


def check_request(request: GenerationRequest) -> None:
    for side in ("width", "height"):
        value = getattr(request, side)
        if value < 8 or value % 8:
            raise ValueError(f"{side} must be a positive multiple of 8, got {value}")
    if request.steps < 1:
        raise ValueError(f"steps must be >= 1, got {request.steps}")
    if not request.seeds:
        raise ValueError("seeds must not be empty")
    if request.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {request.batch_size}")
    if not math.isfinite(request.guidance) or request.guidance < 0:
        raise ValueError(f"guidance must be a finite number >= 0, got {request.guidance}")
    for name in ("face_weight", "style_weight"):
        if not math.isfinite(getattr(request, name)):
            raise ValueError(f"{name} must be finite")
    check_sampler(request.sampler)


@contextmanager
def loras_loaded(pipeline, loras):
    """Each (name, state_dict, weight) loaded as a named adapter at its weight for the duration;
    the pipeline is left without adapters (also when loading fails)."""
    if _adapter_names(pipeline):
        raise ValueError(f"pipeline already carries LoRA adapters {sorted(_adapter_names(pipeline))}")
    names = [name for name, _, _ in loras]
    try:
        for name, lora, _ in loras:
            _load_adapter(pipeline, lora, name)
        if loras:
            pipeline.set_adapters(names, adapter_weights=[float(weight) for _, _, weight in loras])
        yield
    finally:
        _remove_adapters(pipeline, names)


def _load_adapter(pipeline, lora: dict, name: str) -> None:
    check_lora_family(lora, pipeline, name)
    try:
        pipeline.load_lora_weights(as_pipeline_lora(lora), adapter_name=name)
    except Exception as error:  # diffusers raises ValueError, KeyError, IndexError... for foreign dicts
        raise ValueError(f"the {name} LoRA could not be loaded into this pipeline: {error!r}") from error
    if name not in _adapter_names(pipeline):  # diffusers only warns when no key matched
        raise ValueError(f"the {name} LoRA has no weights this pipeline can load (wrong base model?)")


def _adapter_names(pipeline) -> set[str]:
    return {name for names in pipeline.get_list_adapters().values() for name in names}


def _remove_adapters(pipeline, names) -> None:
    present = [name for name in names if name in _adapter_names(pipeline)]
    if present:
        pipeline.delete_adapters(present)
    if not _adapter_names(pipeline):
        pipeline.unload_lora_weights()  # also removes PEFT's wrapper layers


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
