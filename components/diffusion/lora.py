"""LoRA fine-tuning of the UNet on a user's curated face crops (diffusers/PEFT recipe).

Every random draw of step k comes from (seed, k), and checkpoints hold the
LoRA weights, the AdamW moments and the LR-schedule position, so a run resumed
from a checkpoint ends with exactly the weights of an uninterrupted run.
Checkpoints are safetensors bytes (no pickle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from components.diffusion.augment import face_crop
from components.diffusion.training_state import (
    OPTIMIZERS,
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
from components.types import LoraWeights, TrainingExample

TRAINING_ADAPTER = "portrait_lora_training"  # not "train": that name clashes with nn.Module.train
CHECKPOINT_FORMAT = "portrait-lora-checkpoint/2"
MAX_GRAD_NORM = 1.0


class LoraTrainer:
    def __init__(
        self,
        pipeline,
        *,
        rank: int = 4,
        alpha: int = 32,
        learning_rate: float = 1.5e-4,
        steps: int = 200,
        resolution: int = 512,
        batch_size: int = 1,
        seed: int = 42,
        checkpoint_every: int = 50,
        target_modules: Sequence[str] = ("to_q", "to_k", "to_v", "to_out.0"),
        face_fraction: tuple[float, float] = (0.35, 0.45),
        flip: bool = True,
        gradient_checkpointing: bool = False,
        optimizer: str = "adamw",
    ):
        require(rank >= 1, f"rank must be >= 1, got {rank}")
        require(alpha > 0, f"alpha must be > 0, got {alpha}")
        require(learning_rate > 0, f"learning_rate must be > 0, got {learning_rate}")
        require(steps >= 1, f"steps must be >= 1, got {steps}")
        require(resolution >= 8 and resolution % 8 == 0, f"resolution must be a multiple of 8, got {resolution}")
        require(batch_size >= 1, f"batch_size must be >= 1, got {batch_size}")
        require(checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {checkpoint_every}")
        require(len(target_modules) > 0, "target_modules must not be empty")
        require(optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        low, high = face_fraction
        require(0 < low <= high <= 1, f"face_fraction must satisfy 0 < low <= high <= 1, got {face_fraction}")
        self.pipeline = pipeline
        self.rank, self.alpha, self.learning_rate = int(rank), alpha, float(learning_rate)
        self.steps, self.resolution, self.batch_size = int(steps), int(resolution), int(batch_size)
        self.seed, self.checkpoint_every = int(seed), int(checkpoint_every)
        self.target_modules = tuple(target_modules)
        self.face_fraction = (float(low), float(high))
        self.flip = bool(flip)
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.optimizer = optimizer

    def train(
        self,
        examples: list[TrainingExample],
        checkpoints: CheckpointStore | None = None,
        progress: Callable[[int, int, float], None] | None = None,
    ) -> LoraWeights:
        _check_examples(examples)
        unet = self.pipeline.unet
        if getattr(unet, "peft_config", None):
            raise ValueError(f"the UNet already carries adapters {list(unet.peft_config)}; unload them before training")
        saved = snapshot_training_flags(self.pipeline)
        try:
            named_params = self._attach_adapter(unet)
            params = [p for _, p in named_params]
            optimizer = make_optimizer(self.optimizer, params, self.learning_rate)
            if self.gradient_checkpointing:  # recompute activations in backward: less memory, ~20-30% slower
                unet.enable_gradient_checkpointing()
            lr_scheduler = _cosine_schedule(optimizer, self.steps)
            start, losses = restore_training_state(checkpoints, fmt=CHECKPOINT_FORMAT, settings=self._settings(),
                                                   named=named_params, optimizer=optimizer,
                                                   lr_scheduler=lr_scheduler, what="LoRA")
            captions = _encode_captions(self.pipeline, examples)
            noise_scheduler = training_noise_scheduler(self.pipeline.scheduler.config)
            unet.train()
            optimise(start=start, steps=self.steps, losses=losses, params=params, optimizer=optimizer,
                     max_grad_norm=MAX_GRAD_NORM, lr_scheduler=lr_scheduler,
                     step_loss=lambda step: self._train_step(step, examples, captions, noise_scheduler),
                     checkpoint_every=self.checkpoint_every, progress=progress,
                     save_checkpoint=None if checkpoints is None else lambda done: checkpoints.save(
                         done, pack_training_state(fmt=CHECKPOINT_FORMAT, step=done, settings=self._settings(),
                                                   named=named_params, optimizer=optimizer, losses=losses,
                                                   lr_scheduler=lr_scheduler)))
            state_dict = self._export_diffusers_lora(unet)
        finally:
            if self.gradient_checkpointing:
                unet.disable_gradient_checkpointing()
            _remove_training_adapter(unet)
            restore_training_flags(self.pipeline, saved)
        return LoraWeights(state_dict=state_dict, rank=self.rank, alpha=self.alpha, steps=self.steps, losses=losses)

    # -- one step ---------------------------------------------------------------

    def _train_step(self, step, examples, captions, noise_scheduler) -> torch.Tensor:
        unet, vae = self.pipeline.unet, self.pipeline.vae
        device = unet.device
        rng = np.random.default_rng([self.seed, step])
        picks = rng.integers(len(examples), size=self.batch_size)
        fractions = rng.uniform(*self.face_fraction, size=self.batch_size)
        flips = rng.random(self.batch_size) < 0.5 if self.flip else np.zeros(self.batch_size, bool)
        generator = torch.Generator(device="cpu").manual_seed(int(rng.integers(2**63 - 1)))

        crops = [
            face_crop(examples[i].image, examples[i].bbox, float(f), bool(flip), self.resolution)
            for i, f, flip in zip(picks, fractions, flips)
        ]
        pixels = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        with torch.no_grad():
            posterior = vae.encode(pixels.to(device, vae.dtype)).latent_dist
            latents = posterior.sample(generator=generator) * vae.config.scaling_factor
        # Draw on the CPU generator, then move: same numbers on any device.
        noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(device, latents.dtype)
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (self.batch_size,), generator=generator
        ).to(device)
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        prediction_type = noise_scheduler.config.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            raise ValueError(f"unsupported prediction_type {prediction_type!r}")
        cond = torch.cat([captions[examples[i].caption] for i in picks]).to(device, unet.dtype)
        prediction = unet(noisy, timesteps, encoder_hidden_states=cond).sample
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")

    # -- adapter ------------------------------------------------------------------

    def _attach_adapter(self, unet) -> list[tuple[str, torch.nn.Parameter]]:
        from peft import LoraConfig

        for model in (unet, self.pipeline.vae, self.pipeline.text_encoder):
            model.requires_grad_(False)
        config = LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            init_lora_weights="gaussian",
            target_modules=list(self.target_modules),
        )
        # PEFT's init draws from the global RNG: seed it locally, restore the caller's state.
        fork_devices = [] if unet.device.type == "cpu" else None
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(self.seed)
            unet.add_adapter(config, adapter_name=TRAINING_ADAPTER)
        if unet.dtype != torch.float32:  # train LoRA in fp32 on a half-precision UNet
            from diffusers.training_utils import cast_training_params

            cast_training_params(unet, dtype=torch.float32)
        named = [(n, p) for n, p in unet.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError(f"no UNet module matched target_modules {self.target_modules}")
        return named

    def _export_diffusers_lora(self, unet) -> dict[str, torch.Tensor]:
        """The adapter as diffusers-format tensors, ready for save_lora_weights.

        The alpha/rank scale is folded into the up weights: diffusers loads a
        LoRA without alpha metadata at scale 1 (alpha == rank), so this keeps
        the loaded adapter equal to the trained one with any loader.
        """
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        peft_sd = get_peft_model_state_dict(unet, adapter_name=TRAINING_ADAPTER)
        state_dict = convert_state_dict_to_diffusers(peft_sd)
        scale = self.alpha / self.rank
        out = {}
        for key, tensor in state_dict.items():
            tensor = tensor.detach().to("cpu")
            out[key] = (tensor * scale if ".lora.up." in key else tensor.clone()).contiguous()
        return out

    # -- checkpoints ----------------------------------------------------------------

    def _settings(self) -> dict:
        """What must match for a checkpoint to be resumable by this trainer."""
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "learning_rate": self.learning_rate,
            "steps": self.steps,
            "resolution": self.resolution,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "target_modules": list(self.target_modules),
            "face_fraction": list(self.face_fraction),
            "flip": self.flip,
            "optimizer": self.optimizer,
        }

def _cosine_schedule(optimizer, steps: int):
    from diffusers.optimization import get_scheduler

    return get_scheduler("cosine", optimizer, num_warmup_steps=0, num_training_steps=steps)


def _encode_captions(pipeline, examples: list[TrainingExample]) -> dict[str, torch.Tensor]:
    """Text-encoder output per distinct caption; the encoder is frozen, so once is enough."""
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    out = {}
    with torch.no_grad():
        for caption in dict.fromkeys(e.caption for e in examples):
            ids = tokenizer(
                caption, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
            ).input_ids
            out[caption] = encoder(ids.to(encoder.device))[0]
    return out


def _remove_training_adapter(unet) -> None:
    """Drop the training adapter and PEFT's wrapper layers: the UNet is as before training."""
    if getattr(unet, "peft_config", None) and TRAINING_ADAPTER in unet.peft_config:
        unet.delete_adapters(TRAINING_ADAPTER)
    unet.unload_lora()  # unconditionally: delete_adapters drops the config but leaves the wrapper layers


def _check_examples(examples: list[TrainingExample]) -> None:
    if not examples:
        raise ValueError("no training examples")
    for index, example in enumerate(examples):
        image = example.image
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            raise ValueError(f"example {index}: image must be HxWx3 uint8")
        if np.asarray(example.bbox).shape != (4,):
            raise ValueError(f"example {index}: bbox must have 4 values")
        if not isinstance(example.caption, str):
            raise ValueError(f"example {index}: caption must be a string")
