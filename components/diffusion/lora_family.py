"""Which model family a LoRA was made for, read from its keys and shapes, and the refusal of a mismatch.

Signs, strongest first: keys only SDXL LoRAs have (the second text encoder,
the UNet's addition embedding), then the input width of the UNet's
cross-attention key/value projections (768 for SD 1.5, 2048 for SDXL: the text
encoders' hidden sizes; Family.cross_attention_dims). diffusers/PEFT
(`attn2.to_k.lora.down.weight`, `lora_A`, the older `attn2.processor.to_k_lora.down.weight`)
and kohya (`attn2_to_k.lora_down.weight`) spellings are read. A LoRA with neither sign
(text-encoder-only, LyCORIS) is left to the loader, which refuses one it cannot place.
"""

from __future__ import annotations

import re

from components.diffusion.family import Family, family_named, family_of, family_of_cross_attention_dim

_SDXL_ONLY = re.compile(r"(^|[._])(text_encoder_2|lora_te2|add_embedding)[._]")
_CROSS_ATTENTION_DOWN = re.compile(
    r"attn2[._](processor[._])?to_[kv]([._]lora[._]down|[._]lora_down|[._]lora_A|_lora[._]down)[._]")


class LoraFamilyMismatch(ValueError):
    """A LoRA made for one model family was given to a pipeline of another; the message names both."""


def lora_cross_attention_dims(state_dict: dict) -> set[int]:
    """Input widths of the LoRA's cross-attention key/value down projections."""
    return {int(tensor.shape[1]) for key, tensor in state_dict.items()
            if _CROSS_ATTENTION_DOWN.search(key) and getattr(tensor, "ndim", 0) == 2}


def lora_family(state_dict: dict) -> Family | None:
    """The family the LoRA targets, or None when its keys do not say."""
    if any(_SDXL_ONLY.search(key) for key in state_dict):
        return family_named("sdxl")
    for dim in sorted(lora_cross_attention_dims(state_dict)):
        family = family_of_cross_attention_dim(dim)
        if family is not None:
            return family
    return None


def lora_file_family(path) -> Family | None:
    """The family of a .safetensors LoRA file, from its header alone (no tensor is loaded)."""
    from components.diffusion.base_model import safetensors_shapes

    return lora_family(safetensors_shapes(path))


def check_same_family(found: Family | None, target: Family, what: str) -> None:
    """Refuse a LoRA of family `found` (None: unknown, let the loader decide) on a `target` base model."""
    if found is not None and found is not target:
        raise LoraFamilyMismatch(
            f"the {what} LoRA is for {found.label} ({found.name}) but the base model is {target.label} "
            f"({target.name}): use an {target.label} LoRA, or an {found.label} base model with this LoRA")


def check_lora_family(state_dict: dict, pipeline, what: str) -> None:
    """Refuse a LoRA made for another family (or another cross-attention width) than `pipeline`'s."""
    target = family_of(pipeline)
    check_same_family(lora_family(state_dict), target, what)
    dims = lora_cross_attention_dims(state_dict)
    expected = pipeline.unet.config.cross_attention_dim
    if dims and dims != {expected}:
        raise LoraFamilyMismatch(
            f"the {what} LoRA's cross-attention layers take width {sorted(dims)}, this {target.label} "
            f"({target.name}) base model's take {expected}: the LoRA was made for another model")
