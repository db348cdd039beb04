"""LoRA fine-tuning of a face on a user's curated crops (diffusers' LoRA recipe, SD 1.5 or SDXL).

The UNet always gets a LoRA; the text encoders (one for SD 1.5, two for SDXL)
optionally too. What differs between families (text conditioning, SDXL's
add_time_ids, VAE precision, default resolution) comes from the pipeline's
`Family` (components.diffusion.family).

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

from components.diffusion.augment import crop_side, face_crop
from components.diffusion.family import family_of
from components.diffusion.memory import is_offloaded
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
CHECKPOINT_FORMAT = "portrait-lora-checkpoint/3"
MAX_GRAD_NORM = 1.0
TEXT_ENCODER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")  # CLIP attention, as diffusers' scripts


class LoraTrainer:
    def __init__(
        self,
        pipeline,
        *,
        rank: int = 4,
        alpha: int = 32,
        learning_rate: float = 1.5e-4,
        steps: int = 200,
        resolution: int | None = None,
        batch_size: int = 1,
        seed: int = 42,
        checkpoint_every: int = 50,
        target_modules: Sequence[str] = ("to_q", "to_k", "to_v", "to_out.0"),
        face_fraction: tuple[float, float] = (0.35, 0.45),
        flip: bool = True,
        gradient_checkpointing: bool = False,
        optimizer: str = "adamw",
        train_text_encoder: bool = False,
        text_encoder_learning_rate: float | None = None,
    ):
        """`resolution` None: the family's (512 for SD 1.5, 1024 for SDXL). `train_text_encoder`: LoRAs on
        every text encoder of the family too, at `text_encoder_learning_rate` (None: `learning_rate`)."""
        self.family = family_of(pipeline)
        resolution = self.family.default_resolution if resolution is None else resolution
        require(rank >= 1, f"rank must be >= 1, got {rank}")
        require(alpha > 0, f"alpha must be > 0, got {alpha}")
        require(learning_rate > 0, f"learning_rate must be > 0, got {learning_rate}")
        require(text_encoder_learning_rate is None or text_encoder_learning_rate > 0,
                f"text_encoder_learning_rate must be > 0, got {text_encoder_learning_rate}")
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
        self.text_encoders = self.family.text_encoders if train_text_encoder else ()
        self.text_encoder_learning_rate = float(text_encoder_learning_rate or learning_rate)

    def train(
        self,
        examples: list[TrainingExample],
        checkpoints: CheckpointStore | None = None,
        progress: Callable[[int, int, float], None] | None = None,
    ) -> LoraWeights:
        _check_examples(examples)
        pipeline = self.pipeline
        if is_offloaded(pipeline):
            raise ValueError("the pipeline has CPU offload on (a generation option); train on one without it")
        loaded = {name: adapters for name, adapters in pipeline.get_list_adapters().items() if adapters}
        if loaded:
            raise ValueError(f"the pipeline already carries adapters {loaded}; unload them before training")
        saved = snapshot_training_flags(pipeline)
        vae_dtype = pipeline.vae.dtype
        try:
            named_params = self._attach_adapters()
            optimizer = make_optimizer(self.optimizer, self._param_groups(named_params), self.learning_rate)
            if self.gradient_checkpointing:  # recompute activations in backward: less memory, ~20-30% slower
                self._set_gradient_checkpointing(True)
            if self.family.vae_needs_fp32(pipeline.vae):
                pipeline.vae.to(dtype=torch.float32)
            lr_scheduler = _cosine_schedule(optimizer, self.steps)
            start, losses = restore_training_state(checkpoints, fmt=CHECKPOINT_FORMAT, settings=self._settings(),
                                                   named=named_params, optimizer=optimizer,
                                                   lr_scheduler=lr_scheduler, what="LoRA")
            captions = {} if self.text_encoders else self._encode_frozen_captions(examples)
            noise_scheduler = training_noise_scheduler(pipeline.scheduler.config)
            for model in self._trained_models():
                model.train()
            optimise(start=start, steps=self.steps, losses=losses, params=[p for _, p in named_params],
                     optimizer=optimizer, max_grad_norm=MAX_GRAD_NORM, lr_scheduler=lr_scheduler,
                     step_loss=lambda step: self._train_step(step, examples, captions, noise_scheduler),
                     checkpoint_every=self.checkpoint_every, progress=progress,
                     save_checkpoint=None if checkpoints is None else lambda done: checkpoints.save(
                         done, pack_training_state(fmt=CHECKPOINT_FORMAT, step=done, settings=self._settings(),
                                                   named=named_params, optimizer=optimizer, losses=losses,
                                                   lr_scheduler=lr_scheduler)))
            exported = {name: self._export_diffusers_lora(getattr(pipeline, name))
                        for name in ("unet", *self.text_encoders)}
        finally:
            if self.gradient_checkpointing:
                self._set_gradient_checkpointing(False)
            if pipeline.vae.dtype != vae_dtype:
                pipeline.vae.to(dtype=vae_dtype)
            _remove_training_adapters(pipeline)
            restore_training_flags(pipeline, saved)
        unet_lora = exported.pop("unet")
        return LoraWeights(state_dict=unet_lora, rank=self.rank, alpha=self.alpha, steps=self.steps, losses=losses,
                           text_encoder_state_dicts=exported, family=self.family.name)

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
        # The photo pixels each crop was made from (SDXL's original-size conditioning).
        sides = [crop_side(examples[i].bbox, float(f)) for i, f in zip(picks, fractions)]
        pixels = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        with torch.no_grad():
            posterior = vae.encode(pixels.to(device, vae.dtype)).latent_dist
            latents = (posterior.sample(generator=generator) * vae.config.scaling_factor).to(unet.dtype)
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
        texts = [examples[i].caption for i in picks]
        if captions:  # frozen text encoders: encoded once
            text = {key: torch.cat([captions[t][key] for t in texts]) for key in captions[texts[0]]}
        else:
            text = self.family.encode_captions(self.pipeline, texts)
        conditioning = self.family.unet_kwargs(text, original_sizes=[(s, s) for s in sides],
                                               resolution=self.resolution, device=device, dtype=unet.dtype)
        prediction = unet(noisy, timesteps, **conditioning).sample
        return F.mse_loss(prediction.float(), target.float(), reduction="mean")

    def _encode_frozen_captions(self, examples: list[TrainingExample]) -> dict[str, dict[str, torch.Tensor]]:
        with torch.no_grad():
            return {caption: self.family.encode_captions(self.pipeline, [caption])
                    for caption in dict.fromkeys(e.caption for e in examples)}

    # -- adapter ------------------------------------------------------------------

    def _trained_models(self) -> list:
        return [self.pipeline.unet, *(getattr(self.pipeline, name) for name in self.text_encoders)]

    def _set_gradient_checkpointing(self, on: bool) -> None:
        unet, *text_encoders = self._trained_models()
        unet.enable_gradient_checkpointing() if on else unet.disable_gradient_checkpointing()
        for model in text_encoders:  # transformers 5 spelling
            model.activation_checkpointing_enable() if on else model.activation_checkpointing_disable()

    def _attach_adapters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """LoRA on the UNet (and the text encoders when asked); the trainable parameters, named by model."""
        pipeline = self.pipeline
        for model in pipeline.components.values():
            if isinstance(model, torch.nn.Module):
                model.requires_grad_(False)
        unet = pipeline.unet
        # PEFT's init draws from the global RNG: seed it locally, restore the caller's state.
        fork_devices = [] if unet.device.type == "cpu" else None
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(self.seed)
            unet.add_adapter(self._lora_config(self.target_modules), adapter_name=TRAINING_ADAPTER)
            for name in self.text_encoders:
                getattr(pipeline, name).add_adapter(self._lora_config(TEXT_ENCODER_TARGETS),
                                                    adapter_name=TRAINING_ADAPTER)
        named = []
        for name, model in zip(("unet", *self.text_encoders), self._trained_models()):
            if model.dtype != torch.float32:  # train LoRA in fp32 on a half-precision model
                from diffusers.training_utils import cast_training_params

                cast_training_params(model, dtype=torch.float32)
            params = [(f"{name}.{n}", p) for n, p in model.named_parameters() if p.requires_grad]
            if not params:
                raise ValueError(f"no {name} module matched the LoRA target modules")
            named += params
        return named

    def _lora_config(self, target_modules):
        from peft import LoraConfig

        return LoraConfig(r=self.rank, lora_alpha=self.alpha, init_lora_weights="gaussian",
                          target_modules=list(target_modules))

    def _param_groups(self, named) -> list[dict]:
        """The UNet's LoRA at learning_rate, the text encoders' at text_encoder_learning_rate."""
        unet = [p for n, p in named if n.startswith("unet.")]
        text = [p for n, p in named if not n.startswith("unet.")]
        groups = [{"params": unet, "lr": self.learning_rate}]
        if text:
            groups.append({"params": text, "lr": self.text_encoder_learning_rate})
        return groups

    def _export_diffusers_lora(self, model) -> dict[str, torch.Tensor]:
        """One model's adapter as diffusers-format tensors, ready for save_lora_weights.

        The alpha/rank scale is folded into the up weights: diffusers loads a
        LoRA without alpha metadata at scale 1 (alpha == rank), so this keeps
        the loaded adapter equal to the trained one with any loader.
        """
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        scale = self.alpha / self.rank
        peft_sd = {key: (tensor.detach().to("cpu") * scale if ".lora_B." in key else tensor.detach().to("cpu").clone())
                   for key, tensor in get_peft_model_state_dict(model, adapter_name=TRAINING_ADAPTER).items()}
        out = {key: tensor.contiguous() for key, tensor in convert_state_dict_to_diffusers(peft_sd).items()}
        if model is self.pipeline.unet:
            return out
        # transformers 5 flattened CLIPTextModel; LoRA files (diffusers before it, ComfyUI, A1111) name
        # its layers under "text_model.", and diffusers strips that prefix again when loading.
        return {key if key.startswith("text_model.") else f"text_model.{key}": tensor for key, tensor in out.items()}

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
            "family": self.family.name,
            "text_encoders": list(self.text_encoders),
            "text_encoder_learning_rate": self.text_encoder_learning_rate,
        }

def _cosine_schedule(optimizer, steps: int):
    from diffusers.optimization import get_scheduler

    return get_scheduler("cosine", optimizer, num_warmup_steps=0, num_training_steps=steps)


def _remove_training_adapters(pipeline) -> None:
    """Drop the training adapters and PEFT's wrapper layers from every model: as before training.

    Training starts only on a pipeline without adapters, so removing all of them is safe.
    """
    pipeline.unload_lora_weights()


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
