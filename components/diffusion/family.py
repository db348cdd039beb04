"""Model families (Stable Diffusion 1.5, SDXL): what differs between them, decided in one place.

A `Family` names the diffusers pipeline class, the text encoders a LoRA may
target, how training turns captions into the UNet's conditioning, how a LoRA is
saved, and the default resolution. The rest of the code asks `family_of(pipeline)`
(or `family_named`) and calls these methods; it never tests for SDXL itself.

Light to import (no torch/diffusers at module level): tasks use it for keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# model_index.json `_class_name`s of each family (text-to-image, img2img and inpainting
# variants share weights and LoRAs).
_SD15_CLASSES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline",
                 # the template and pose modes' pipelines, made from the base with from_pipe
                 "StableDiffusionControlNetPipeline", "StableDiffusionControlNetInpaintPipeline")
_SDXL_CLASSES = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline")


class UnsupportedModel(ValueError):
    """The model is of no family this project supports; the message names what was found."""


class Family:
    name = ""
    label = ""
    pipeline_class_name = ""
    pipeline_classes: tuple[str, ...] = ()
    text_encoders: tuple[str, ...] = ()  # pipeline attributes a LoRA may target besides the UNet
    default_resolution = 512
    reference_model = ""  # the hub id of the family's base model, for messages
    # UNet cross-attention widths of this family's models: the real ones, then our tiny test model's.
    cross_attention_dims: tuple[int, ...] = ()
    # diffusers' single-file model types (loaders.single_file_utils.infer_diffusers_model_type)
    single_file_types: tuple[str, ...] = ()
    # the train-free face adapters (components.adapters) condition the UNet on one text encoder only
    face_adapters = False

    def pipeline_class(self):
        import diffusers

        return getattr(diffusers, self.pipeline_class_name)

    def load_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for from_pretrained / from_single_file."""
        return {}

    def encode_captions(self, pipeline, captions: Sequence[str]) -> dict[str, Any]:
        """Text conditioning of a batch of captions, with gradients if a text encoder trains."""
        raise NotImplementedError

    def unet_kwargs(self, text: dict[str, Any], *, original_sizes: Sequence[tuple[int, int]],
                    resolution: int, device, dtype) -> dict[str, Any]:
        """Keyword arguments of the UNet's forward for training, from `encode_captions`' output."""
        return {"encoder_hidden_states": text["prompt_embeds"].to(device, dtype)}

    def vae_needs_fp32(self, vae) -> bool:
        """Whether encoding/decoding must run the VAE in float32 (fp16 overflow)."""
        return False

    def require_face_adapters(self) -> None:
        """Refuse the FACT / FeedFace face adapters (train-free mode) on a family they cannot condition."""
        if not self.face_adapters:
            supported = ", ".join(f"{f.label} ({f.name})" for f in FAMILIES.values() if f.face_adapters)
            raise ValueError(
                f"the FACT / FeedFace face adapters do not run on {self.label} ({self.name}) base models, only on "
                f"{supported}: their training and sampling loops condition the UNet on one text encoder, without "
                f"{self.label}'s second encoder, pooled text and size embeddings. Use LoRA training on {self.label}.")

    def save_lora(self, folder, weights, weight_name: str | None = None) -> None:
        """Write `weights` (LoraWeights) as one safetensors file with the pipeline class's save_lora_weights
        (named `weight_name`, else diffusers' default name)."""
        layers = {f"{name}_lora_layers": sd for name, sd in weights.text_encoder_state_dicts.items() if sd}
        unknown = sorted(set(weights.text_encoder_state_dicts) - set(self.text_encoders))
        if unknown:
            raise ValueError(f"{self.label} LoRA cannot hold text-encoder weights for {unknown}")
        self.pipeline_class().save_lora_weights(str(folder), unet_lora_layers=weights.state_dict,
                                                safe_serialization=True, weight_name=weight_name, **layers)

    def __repr__(self) -> str:
        return f"<family {self.name}>"


class SD15(Family):
    name, label = "sd15", "SD 1.5"
    pipeline_class_name = "StableDiffusionPipeline"
    pipeline_classes = _SD15_CLASSES
    text_encoders = ("text_encoder",)
    default_resolution = 512
    reference_model = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    cross_attention_dims = (768, 32)
    single_file_types = ("v1", "inpainting")
    face_adapters = True

    def load_kwargs(self) -> dict[str, Any]:
        return {"safety_checker": None, "requires_safety_checker": False}

    def encode_captions(self, pipeline, captions: Sequence[str]) -> dict[str, Any]:
        embeds, _ = pipeline.encode_prompt(list(captions), pipeline.text_encoder.device, 1, False)
        return {"prompt_embeds": embeds}


class SDXL(Family):
    name, label = "sdxl", "SDXL"
    pipeline_class_name = "StableDiffusionXLPipeline"
    pipeline_classes = _SDXL_CLASSES
    text_encoders = ("text_encoder", "text_encoder_2")
    default_resolution = 1024
    reference_model = "stabilityai/stable-diffusion-xl-base-1.0"
    cross_attention_dims = (2048, 80)
    single_file_types = ("xl_base", "xl_inpaint")

    def encode_captions(self, pipeline, captions: Sequence[str]) -> dict[str, Any]:
        # Both encoders' penultimate hidden states side by side, and the second's pooled output.
        embeds, _, pooled, _ = pipeline.encode_prompt(list(captions), device=pipeline.text_encoder_2.device,
                                                      num_images_per_prompt=1, do_classifier_free_guidance=False)
        return {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled}

    def unet_kwargs(self, text: dict[str, Any], *, original_sizes: Sequence[tuple[int, int]],
                    resolution: int, device, dtype) -> dict[str, Any]:
        import torch

        # diffusers' SDXL LoRA recipe: time ids = original size + crop top-left + target size, (h, w) each.
        # The face crop is a whole square window scaled to the resolution, nothing of it cut away: (0, 0).
        time_ids = torch.tensor([[*size, 0, 0, resolution, resolution] for size in original_sizes],
                                dtype=dtype, device=device)
        return {"encoder_hidden_states": text["prompt_embeds"].to(device, dtype),
                "added_cond_kwargs": {"text_embeds": text["pooled_prompt_embeds"].to(device, dtype),
                                      "time_ids": time_ids}}

    def vae_needs_fp32(self, vae) -> bool:
        import torch

        # SDXL's VAE overflows in fp16; the fp16-fix VAE says so with force_upcast=False.
        return vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", True))


FAMILIES: dict[str, Family] = {family.name: family for family in (SD15(), SDXL())}
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)


def family_named(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; families: {', '.join(FAMILY_NAMES)}")
    return FAMILIES[name]


def family_of(pipeline) -> Family:
    """The family of a loaded pipeline, from its class (subclasses included)."""
    for cls in type(pipeline).__mro__:
        family = _family_of_class(cls.__name__)
        if family is not None:
            return family
    raise UnsupportedModel(f"{type(pipeline).__name__} is not a pipeline of a supported family "
                           f"({_supported()})")


def family_from_model_index(model_index: dict) -> Family:
    """The family of a diffusers folder from its model_index.json content."""
    class_name = model_index.get("_class_name") if isinstance(model_index, dict) else None
    family = _family_of_class(class_name) if isinstance(class_name, str) else None
    if family is None:
        raise UnsupportedModel(f"model_index.json names pipeline class {class_name!r}; supported: {_supported()}")
    return family


def family_from_checkpoint_type(model_type: str) -> Family:
    """The family of a single-file checkpoint from diffusers' inferred model type."""
    for family in FAMILIES.values():
        if model_type in family.single_file_types:
            return family
    raise UnsupportedModel(f"single-file checkpoint of type {model_type!r} (as diffusers reads its keys); "
                           f"supported: {_supported()}")


def family_of_cross_attention_dim(dim: int) -> Family | None:
    for family in FAMILIES.values():
        if dim in family.cross_attention_dims:
            return family
    return None


def _family_of_class(class_name: str) -> Family | None:
    for family in FAMILIES.values():
        if class_name in family.pipeline_classes:
            return family
    return None


def _supported() -> str:
    return "; ".join(f"{f.name} ({f.label}: {', '.join(f.pipeline_classes)})" for f in FAMILIES.values())

