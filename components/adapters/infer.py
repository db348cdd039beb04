"""Text-to-image with a trained face adapter and face classifier-free guidance.

Face tokens: the K embeddings (several photos of the person) each go through
DlibIdEncoder + the trained projection, and the K token sets are concatenated
along the token axis -> (1, K*tokens, face_dim). The "no face" condition is the
same with zero encoder tokens (as in training's condition drop).

Guidance, per denoising step, with
    ε_c  = ε(prompt,   face)
    ε_uc = ε(negative, no face)            (negative = "" when not given)
    ε_t  = ε(prompt,   no face)            (only when needed, see below)

    ε = ε_c + s·(ε_c − ε_t) + (g − 1)·(ε_t − ε_uc)

with s = `face_guidance` and g = `guidance_text`. When g = 1 + s (the default,
guidance_text=None) the ε_t terms cancel and this is exactly FeedFace's face CFG

    ε = ε_c + s·(ε_c − ε_uc)       (two UNet branches per step)

otherwise a third branch separates text guidance (g) from face guidance (s). At
adapter scale 0, ε_c = ε_t and the result is ordinary text CFG with scale g.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import numpy as np
import torch

from components.adapters.base import check_adapter_family
from components.adapters.id_encoder import DlibIdEncoder
from components.adapters.train import encode_text, vae_scale_factor
from components.adapters.types import AdapterWeights
from components.adapters.weights import build_modules, check_kind, load_state


class AdapterGenerator:
    def __init__(self, pipeline, weights: AdapterWeights):
        check_adapter_family(pipeline)
        check_kind(weights.kind)
        if weights.config.get("kind") != weights.kind:
            raise ValueError(f"weights kind {weights.kind!r} disagrees with its config {weights.config.get('kind')!r}")
        self.pipeline = pipeline
        self.weights = weights
        self.projection, self.adapter = build_modules(pipeline.unet, weights.config)
        load_state(self.projection, self.adapter, weights.state_dict)
        self.projection.eval().requires_grad_(False)
        self.adapter.train(False)
        for p in self.adapter.parameters():
            p.requires_grad_(False)
        self.encoder = DlibIdEncoder()

    def face_tokens(self, face_embeddings: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(face, no-face) tokens, each (1, K*tokens, face_dim)."""
        face = self.encoder.encode_embeddings(face_embeddings).to(self.pipeline.unet.device)
        with torch.no_grad():
            cond = self.projection(face)
            uncond = self.projection(torch.zeros_like(face))
        # The K token sets side by side along the token axis.
        return cond.reshape(1, -1, cond.shape[-1]), uncond.reshape(1, -1, uncond.shape[-1])

    def generate(
        self,
        prompt: str,
        negative: str = "",
        face_embeddings: np.ndarray | None = None,
        seeds: Sequence[int] = (0,),
        steps: int = 30,
        guidance_text: float | None = None,
        face_guidance: float = 4.0,
        scale: float | None = None,
        width: int = 512,
        height: int = 512,
    ) -> list[np.ndarray]:
        """One HxWx3 uint8 image per seed; the pipeline is left without hooks afterwards."""
        seeds = [int(s) for s in seeds]
        if face_embeddings is None:
            raise ValueError("face_embeddings (K, 128) are required")
        for side, value in (("width", width), ("height", height)):
            if value < 8 or value % 8:
                raise ValueError(f"{side} must be a positive multiple of 8, got {value}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not seeds:
            raise ValueError("seeds must not be empty")
        scale = float(self.weights.config.get("scale", 1.0) if scale is None else scale)
        s = float(face_guidance)
        g = 1.0 + s if guidance_text is None else float(guidance_text)
        if not all(math.isfinite(x) for x in (s, g, scale)):
            raise ValueError("guidance and scale must be finite")
        three = not math.isclose(g, 1.0 + s, rel_tol=0, abs_tol=1e-12)

        pipeline, unet, vae = self.pipeline, self.pipeline.unet, self.pipeline.vae
        device, dtype = unet.device, unet.dtype
        cond_face, uncond_face = self.face_tokens(face_embeddings)
        texts = [negative or "", prompt] + ([prompt] if three else [])
        text = encode_text(pipeline, texts).to(dtype)  # (branches, 77, D): uc, c[, t]
        faces = [uncond_face, cond_face] + ([uncond_face] if three else [])
        branches, batch = len(texts), len(seeds)
        text = text.repeat_interleave(batch, dim=0)  # branch-major: [uc]*S, [c]*S, [t]*S
        face = torch.cat([f.expand(batch, -1, -1) for f in faces])

        scheduler = type(pipeline.scheduler).from_config(pipeline.scheduler.config)
        scheduler.set_timesteps(steps, device=device)
        factor = vae_scale_factor(pipeline)
        shape = (1, unet.config.in_channels, height // factor, width // factor)
        generators = [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]
        latents = torch.cat([torch.randn(shape, generator=gen) for gen in generators]).to(device, dtype)
        latents = latents * scheduler.init_noise_sigma
        step_kwargs = {"generator": generators[0]} if "generator" in inspect.signature(scheduler.step).parameters else {}

        self.adapter.set_scale(scale)
        self.adapter.set_face_tokens(face.to(device))
        self.adapter.attach()
        try:
            with torch.no_grad():
                for t in scheduler.timesteps:
                    model_in = scheduler.scale_model_input(torch.cat([latents] * branches), t)
                    eps = unet(model_in, t, encoder_hidden_states=text).sample.chunk(branches)
                    eps_uc, eps_c = eps[0], eps[1]
                    if three:
                        eps_t = eps[2]
                        guided = eps_c + s * (eps_c - eps_t) + (g - 1.0) * (eps_t - eps_uc)
                    else:
                        guided = eps_c + s * (eps_c - eps_uc)
                    latents = scheduler.step(guided, t, latents, **step_kwargs).prev_sample
                image = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample
        finally:
            self.adapter.detach()
            self.adapter.set_face_tokens(None)
        image = (image.float() / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        return [(x * 255.0).round().astype(np.uint8) for x in image]
