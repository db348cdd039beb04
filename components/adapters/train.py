"""Training a face adapter (FACT or FeedFace) + its projection on a frozen SD pipeline.

Per step (all random draws from np.random.default_rng([seed, step])):
  1. pick `batch_size` target photos;
  2. for each, a conditioning photo: another photo of the same identity when
     there is one (`condition_index`), else the target itself;
  3. face tokens = projection(DlibIdEncoder(embedding of the conditioning photo)),
     with the encoder tokens zeroed with probability `cond_drop` (the "no face"
     condition that face classifier-free guidance uses at inference);
  4. the target's VAE latent is noised at a random timestep; the caption is
     "a photo of a person" (or the trigger word's "a photo of <trigger>");
  5. FACT: loss = fair_loss(ε_θ, ε, Δh per block, face mask, lam);
     FeedFace: loss = mask_regularised_loss(ε_θ, ε, ε̂, face mask, plain) with ε̂ the
     frozen base prediction (adapter off, no grad) and plain on a `plain_fraction`
     of steps;
  6. AdamW on the adapter + projection parameters only (the UNet, VAE and text
     encoder stay frozen), gradient norm clipped to 1.

Checkpoints are safetensors bytes holding the trainable tensors, the AdamW state
and the losses so far; resuming from one reproduces an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from components.adapters.base import check_adapter_family
from components.adapters.id_encoder import DLIB_EMBEDDING_DIM, DlibIdEncoder
from components.adapters.losses import fair_loss, mask_regularised_loss
from components.adapters.types import ADAPTER_KINDS, AdapterExample, AdapterWeights
from components.adapters.weights import build_modules, default_config, export_state, load_state
from components.diffusion.training_state import (
    make_optimizer,
    optimise,
    pack_training_state,
    require,
    restore_training_flags,
    restore_training_state,
    snapshot_training_flags,
    training_noise_scheduler,
)
from components.protocols import CheckpointStore

CHECKPOINT_FORMAT = "face-adapter-checkpoint/1"
DEFAULT_CAPTION = "a photo of a person"
MAX_GRAD_NORM = 1.0


def condition_index(identities: Sequence[str], target: int, rng: np.random.Generator) -> int:
    """Index of the conditioning photo for `target`: a uniformly drawn *other* photo of the
    same identity when one exists, else `target` itself (a single-photo identity)."""
    others = [i for i, identity in enumerate(identities) if identity == identities[target] and i != target]
    if not others:
        return int(target)
    return int(others[int(rng.integers(len(others)))])


class AdapterTrainer:
    def __init__(
        self,
        pipeline,
        kind: str,
        *,
        steps: int,
        lr: float = 1e-4,
        resolution: int = 512,
        seed: int = 42,
        lam: float = 0.1,
        cond_drop: float = 0.1,
        plain_fraction: float = 0.1,
        checkpoint_every: int = 50,
        tokens: int = 4,
        batch_size: int = 1,
        trigger_word: str | None = None,
    ):
        check_adapter_family(pipeline)
        require(kind in ADAPTER_KINDS, f"unknown adapter kind {kind!r}; kinds: {', '.join(ADAPTER_KINDS)}")
        require(steps >= 1, f"steps must be >= 1, got {steps}")
        require(np.isfinite(lr) and lr > 0, f"lr must be > 0, got {lr}")
        require(resolution >= 8 and resolution % 8 == 0, f"resolution must be a multiple of 8, got {resolution}")
        require(np.isfinite(lam) and lam >= 0, f"lam must be >= 0, got {lam}")
        require(0 <= cond_drop < 1, f"cond_drop must be in [0, 1), got {cond_drop}")
        require(0 <= plain_fraction <= 1, f"plain_fraction must be in [0, 1], got {plain_fraction}")
        require(checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {checkpoint_every}")
        require(tokens >= 1, f"tokens must be >= 1, got {tokens}")
        require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
        require(trigger_word is None or bool(trigger_word.strip()), "trigger_word must not be blank")
        self.pipeline, self.kind = pipeline, kind
        self.steps, self.lr, self.resolution, self.seed = int(steps), float(lr), int(resolution), int(seed)
        self.lam, self.cond_drop, self.plain_fraction = float(lam), float(cond_drop), float(plain_fraction)
        self.checkpoint_every, self.tokens, self.batch_size = int(checkpoint_every), int(tokens), int(batch_size)
        self.caption = f"a photo of {trigger_word.strip()}" if trigger_word else DEFAULT_CAPTION
        self.encoder = DlibIdEncoder()

    def train(
        self,
        examples: list[AdapterExample],
        checkpoints: CheckpointStore | None = None,
        progress: Callable[[int, int, float], None] | None = None,
    ) -> AdapterWeights:
        check_examples(examples)
        unet = self.pipeline.unet
        config = default_config(unet, self.kind, self.tokens)
        saved = snapshot_training_flags(self.pipeline)
        projection, adapter = build_modules(unet, config, seed=self.seed)
        try:
            for model in (unet, self.pipeline.vae, self.pipeline.text_encoder):
                model.requires_grad_(False)
            named = [(f"projection.{n}", p) for n, p in projection.named_parameters()]
            named += [(f"adapter.{n}", p) for n, p in adapter.named_parameters()]
            params = [p for _, p in named]
            for p in params:
                p.requires_grad_(True)
            optimizer = make_optimizer("adamw", params, self.lr)
            start, losses = restore_training_state(checkpoints, fmt=CHECKPOINT_FORMAT, settings=self._settings(),
                                                   named=named, optimizer=optimizer, what="adapter")
            data = self._prepare(examples)
            noise_scheduler = training_noise_scheduler(self.pipeline.scheduler.config)
            adapter.attach()
            adapter.record_increments = self.kind == "fact"
            projection.train()
            adapter.train()
            optimise(start=start, steps=self.steps, losses=losses, params=params, optimizer=optimizer,
                     max_grad_norm=MAX_GRAD_NORM,
                     step_loss=lambda step: self._train_step(step, data, projection, adapter, noise_scheduler),
                     checkpoint_every=self.checkpoint_every, progress=progress,
                     save_checkpoint=None if checkpoints is None else lambda done: checkpoints.save(
                         done, pack_training_state(fmt=CHECKPOINT_FORMAT, step=done, settings=self._settings(),
                                                   named=named, optimizer=optimizer, losses=losses)))
        finally:
            adapter.detach()
            adapter.set_face_tokens(None)
            restore_training_flags(self.pipeline, saved)
        projection.eval()
        adapter.train(False)
        return AdapterWeights(kind=self.kind, state_dict=export_state(projection, adapter), config=config, losses=losses)

    def evaluate(
        self, examples: list[AdapterExample], weights: AdapterWeights | None = None, steps: Sequence[int] | None = None
    ) -> list[float]:
        """The loss each of `steps` (default: all) would have with `weights` (None: the fresh
        initialisation), on the same draws as training, without updating anything."""
        check_examples(examples)
        unet = self.pipeline.unet
        config = default_config(unet, self.kind, self.tokens)
        projection, adapter = build_modules(unet, config, seed=self.seed)
        if weights is not None:
            if weights.config != config:
                raise ValueError(f"weights config {weights.config} does not match this trainer's {config}")
            load_state(projection, adapter, weights.state_dict)
        data = self._prepare(examples)
        noise_scheduler = training_noise_scheduler(self.pipeline.scheduler.config)
        projection.eval()
        adapter.attach()
        adapter.record_increments = self.kind == "fact"
        try:
            with torch.no_grad():
                return [
                    float(self._train_step(step, data, projection, adapter, noise_scheduler))
                    for step in (range(self.steps) if steps is None else steps)
                ]
        finally:
            adapter.detach()
            adapter.set_face_tokens(None)

    # -- data ---------------------------------------------------------------------------

    def _prepare(self, examples: list[AdapterExample]) -> dict:
        """Everything the frozen models give once: latent distributions, masks, face and text tokens."""
        pipeline, res = self.pipeline, self.resolution
        vae, device = pipeline.vae, pipeline.unet.device
        images, masks = zip(*(square_resize(e.image, e.mask, res) for e in examples))
        pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        mask = torch.from_numpy(np.stack(masks)).float()[:, None]
        latent_size = (res // vae_scale_factor(pipeline),) * 2
        with torch.no_grad():
            means, stds = [], []
            for start in range(0, len(examples), 8):
                dist = vae.encode(pixels[start : start + 8].to(device, vae.dtype)).latent_dist
                means.append(dist.mean.float())
                stds.append(dist.std.float())
            text = encode_text(pipeline, [self.caption])
        return {
            "mean": torch.cat(means),
            "std": torch.cat(stds),
            "mask": F.interpolate(mask, size=latent_size, mode="area").to(device),
            "face": self.encoder.encode_embeddings(np.stack([e.embedding for e in examples])).to(device),
            "text": text,
            "identities": [e.identity for e in examples],
        }

    # -- one step -------------------------------------------------------------------------

    def _train_step(self, step, data, projection, adapter, noise_scheduler) -> torch.Tensor:
        unet, vae = self.pipeline.unet, self.pipeline.vae
        device, n = unet.device, len(data["identities"])
        rng = np.random.default_rng([self.seed, step])
        targets = rng.integers(n, size=self.batch_size)
        conds = [condition_index(data["identities"], int(t), rng) for t in targets]
        drop = rng.random(self.batch_size) < self.cond_drop
        plain = bool(rng.random() < self.plain_fraction)
        generator = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**63 - 1)))

        mean, std = data["mean"][targets], data["std"][targets]
        sample = torch.randn(mean.shape, generator=generator).to(device)
        latents = (mean + std * sample) * vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=generator).to(device)
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (self.batch_size,), generator=generator
        ).to(device)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps).to(unet.dtype)
        target = _target(noise_scheduler, latents, noise, timesteps)
        text = data["text"].expand(self.batch_size, -1, -1).to(unet.dtype)
        mask = data["mask"][targets]

        face = data["face"][conds].clone()
        face[torch.from_numpy(drop).to(device)] = 0.0
        tokens = projection(face)
        eps_hat = None
        if self.kind == "feedface" and not plain:
            adapter.set_face_tokens(None)  # adapter off: the frozen base model
            with torch.no_grad():
                eps_hat = unet(noisy, timesteps, encoder_hidden_states=text).sample
        adapter.set_face_tokens(tokens)
        prediction = unet(noisy, timesteps, encoder_hidden_states=text).sample
        if self.kind == "fact":
            return fair_loss(prediction, target, adapter.increments, mask, self.lam)
        return mask_regularised_loss(prediction, target, eps_hat, mask, plain)

    # -- checkpoints ------------------------------------------------------------------------

    def _settings(self) -> dict:
        return {
            "kind": self.kind,
            "steps": self.steps,
            "lr": self.lr,
            "resolution": self.resolution,
            "seed": self.seed,
            "lam": self.lam,
            "cond_drop": self.cond_drop,
            "plain_fraction": self.plain_fraction,
            "tokens": self.tokens,
            "batch_size": self.batch_size,
            "caption": self.caption,
        }

# -- helpers shared with inference -------------------------------------------------------------


def encode_text(pipeline, prompts: list[str]) -> torch.Tensor:
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    ids = tokenizer(
        prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        return encoder(ids.to(encoder.device))[0]


def vae_scale_factor(pipeline) -> int:
    return 2 ** (len(pipeline.vae.config.block_out_channels) - 1)


def square_resize(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre square crop, resized to size×size: (uint8 image, float mask in [0, 1])."""
    from PIL import Image

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side]
    mask = mask_to_unit(mask[top : top + side, left : left + side])
    out = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    m = torch.from_numpy(mask)[None, None]
    m = F.interpolate(m, size=(size, size), mode="area" if side >= size else "bilinear")
    return out, m[0, 0].clamp(0, 1).numpy()


def mask_to_unit(mask: np.ndarray) -> np.ndarray:
    """uint8 mask (255 = face, or 0/1) -> float32 in [0, 1]."""
    mask = np.asarray(mask)
    top = 1.0 if mask.max(initial=0) <= 1 else 255.0
    return (mask.astype(np.float32) / top).clip(0, 1)


def check_examples(examples: list[AdapterExample]) -> None:
    if not examples:
        raise ValueError("no training examples")
    for index, e in enumerate(examples):
        image, mask = e.image, e.mask
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            raise ValueError(f"example {index}: image must be HxWx3 uint8")
        if not (isinstance(mask, np.ndarray) and mask.shape == image.shape[:2] and mask.dtype == np.uint8):
            raise ValueError(f"example {index}: mask must be HxW uint8 with the image's size")
        embedding = np.asarray(e.embedding)
        if embedding.shape != (DLIB_EMBEDDING_DIM,) or not np.all(np.isfinite(embedding)):
            raise ValueError(f"example {index}: embedding must be {DLIB_EMBEDDING_DIM} finite numbers")
        if not isinstance(e.identity, str) or not e.identity:
            raise ValueError(f"example {index}: identity must be a non-empty string")


def _target(noise_scheduler, latents, noise, timesteps) -> torch.Tensor:
    prediction_type = noise_scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return noise_scheduler.get_velocity(latents, noise, timesteps)
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")
