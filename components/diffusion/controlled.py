"""Generation under ControlNets with the person's identity, for the pose and template modes.

The ControlNet pipelines are diffusers' own (`StableDiffusionControlNetPipeline`,
`StableDiffusionControlNetInpaintPipeline`), made with `from_pipe` from the base
pipeline, so they share its UNet, VAE and text encoder (no copy, no reload).

The identity enters the same way for any of them:
- `LoraIdentity`: the face LoRA (+ style LoRA) as PEFT adapters, through `PeftGenerator`.
- `AdapterIdentity`: the trained face adapter's hooks on the shared UNet, its face
  tokens set per UNet call to [no face] x n + [face] x n, matching diffusers' CFG batch
  [negative] x n + [prompt] x n. With guidance g = 1 + s this is exactly
  `AdapterGenerator`'s face guidance ε = ε_c + s·(ε_c − ε_uc).
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np

from components.diffusion.generate import PeftGenerator
from components.types import GenerationRequest


def pose_pipeline(base, controlnet):
    """txt2img under one ControlNet, sharing `base`'s modules."""
    from diffusers import StableDiffusionControlNetPipeline

    pipeline = StableDiffusionControlNetPipeline.from_pipe(base, controlnet=controlnet)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def inpaint_pipeline(base, controlnets: list):
    """Inpainting under several ControlNets (their scales given per call), sharing `base`'s modules."""
    from diffusers import MultiControlNetModel, StableDiffusionControlNetInpaintPipeline

    pipeline = StableDiffusionControlNetInpaintPipeline.from_pipe(base, controlnet=MultiControlNetModel(controlnets))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


class LoraIdentity:
    def __init__(self, face_lora: dict | None, style_lora: dict | None = None, device: str = "cpu") -> None:
        self.face_lora, self.style_lora, self.device = face_lora, style_lora, device

    def generate(self, pipeline, request: GenerationRequest, **call_kwargs) -> list[np.ndarray]:
        return PeftGenerator(pipeline, self.device, call_kwargs=call_kwargs).generate(request, self.face_lora, self.style_lora)


class AdapterIdentity:
    """`generator` is an `AdapterGenerator` built on the base pipeline (its adapter hooks that UNet)."""

    def __init__(self, generator, face_embeddings: np.ndarray, *, scale: float, face_guidance: float,
                 style_lora: dict | None = None, device: str = "cpu") -> None:
        self.generator, self.face_embeddings = generator, np.asarray(face_embeddings, np.float32)
        self.scale, self.face_guidance = float(scale), float(face_guidance)
        self.style_lora, self.device = style_lora, device

    def generate(self, pipeline, request: GenerationRequest, **call_kwargs) -> list[np.ndarray]:
        request = dataclasses.replace(request, guidance=1.0 + self.face_guidance, face_weight=0.0)
        with self.face_conditioning(guided=self.face_guidance > 0):
            return PeftGenerator(pipeline, self.device, call_kwargs=call_kwargs).generate(request, None, self.style_lora)

    @contextlib.contextmanager
    def face_conditioning(self, guided: bool):
        import torch

        adapter, unet = self.generator.adapter, self.generator.pipeline.unet
        cond, uncond = self.generator.face_tokens(self.face_embeddings)

        def tokens_for_batch(module, args, kwargs):
            batch = (args[0] if args else kwargs["sample"]).shape[0]
            if guided:  # diffusers' CFG batch: negatives first, then prompts
                adapter.set_face_tokens(torch.cat([uncond.expand(batch // 2, -1, -1),
                                                   cond.expand(batch - batch // 2, -1, -1)]))
            else:
                adapter.set_face_tokens(cond.expand(batch, -1, -1))

        adapter.set_scale(self.scale)
        adapter.attach()
        handle = unet.register_forward_pre_hook(tokens_for_batch, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()
            adapter.detach()
            adapter.set_face_tokens(None)


def generate_in_pose(identity, pipeline, request: GenerationRequest, pose_map: np.ndarray,
                     scale: float) -> list[np.ndarray]:
    """Images in the pose of `pose_map` (an OpenPose skeleton, RGB), ControlNet scale `scale`."""
    from PIL import Image

    return identity.generate(pipeline, request, image=Image.fromarray(pose_map),
                             controlnet_conditioning_scale=float(scale))


class ControlNetPoseGenerator:
    """The "controlnet" pose generator: `pipeline` is a `pose_pipeline` (one OpenPose ControlNet)."""

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def generate(self, identity, request: GenerationRequest, pose_map: np.ndarray, scale: float) -> list[np.ndarray]:
        return generate_in_pose(identity, self.pipeline, request, pose_map, scale)


def inpaint(identity, pipeline, request: GenerationRequest, image: np.ndarray, mask: np.ndarray,
            controls: list[np.ndarray], scales: list[float], strength: float) -> list[np.ndarray]:
    """`image` repainted inside `mask` (255 = repaint) under the ControlNets' `controls`, one per seed.

    Strength 0 repaints nothing: the image comes back as it is (diffusers refuses 0 steps).
    """
    from PIL import Image

    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    if len(controls) != len(scales):
        raise ValueError(f"{len(controls)} control images for {len(scales)} scales")
    if strength == 0.0 or int(request.steps * strength) < 1:
        return [image.copy() for _ in request.seeds]
    return identity.generate(pipeline, request, image=Image.fromarray(image), mask_image=Image.fromarray(mask),
                             control_image=[Image.fromarray(c) for c in controls],
                             controlnet_conditioning_scale=[float(s) for s in scales], strength=float(strength))
