"""Community LoRA files: which format, and whether they fit the base model, before loading.

Two formats load: diffusers/PEFT (`unet.…`, `text_encoder.…` or bare module
paths with `lora_A`/`lora_B` or `lora.down`/`lora.up`) and kohya/A1111
(`lora_unet_…`, `lora_te_…` with `.alpha`). diffusers' own `lora_state_dict`
converts kohya keys and `load_lora_weights` applies the alphas, to the UNet
and the text encoder alike. Anything else, or a LoRA made for another base
architecture (SDXL's second text encoder, other cross-attention widths), is
refused here with a message that says which, instead of diffusers loading
part of it (or nothing) with a warning.
"""

from __future__ import annotations

from collections.abc import Iterable

KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
DIFFUSERS_PREFIXES = ("unet.", "text_encoder.", "text_encoder_2.")
# Keys only SDXL LoRAs carry: the second text encoder, the added-conditioning embedding.
SDXL_MARKERS = ("lora_te2_", "text_encoder_2.", "add_embedding", "label_emb")
_LORA_PARTS = ("lora_A", "lora_B", "lora.down", "lora.up", "lora_down", "lora_up", "lora_linear_layer",
               "lora_magnitude_vector", ".alpha")
_ARCHITECTURES = "SD 1.x: 768, SD 2.x: 1024, SDXL: 2048"


class LoraFormatError(ValueError):
    """A LoRA file this pipeline cannot use; the message says why."""


def lora_format(keys: Iterable[str], label: str) -> str:
    """"kohya" or "diffusers"; LoraFormatError when the keys fit neither."""
    keys = list(keys)
    if not keys:
        raise LoraFormatError(f"LoRA {label}: the file holds no tensors")
    if all(key.startswith(KOHYA_PREFIXES) for key in keys):
        return "kohya"
    if all(any(part in key for part in _LORA_PARTS) for key in keys) and not any(
            key.startswith(KOHYA_PREFIXES) for key in keys):
        return "diffusers"
    odd = [key for key in keys if not any(part in key for part in _LORA_PARTS)][:3] or keys[:3]
    raise LoraFormatError(
        f"LoRA {label}: keys fit neither the diffusers/PEFT format (unet.…lora_A/lora_B) nor the kohya/A1111 "
        f"format (lora_unet_…lora_down/lora_up with alpha), e.g. {', '.join(map(repr, odd))}; "
        "LyCORIS (LoHa/LoKr), full checkpoints and embeddings are not LoRAs this pipeline loads")


def check_lora_keys(keys: Iterable[str], label: str, components: Iterable[str] = ("unet", "text_encoder")) -> str:
    """The format, after refusing keys for a component the base model lacks (an SDXL LoRA on SD 1.5)."""
    keys = list(keys)
    fmt = lora_format(keys, label)
    if "text_encoder_2" not in set(components):
        sdxl = [key for key in keys if any(marker in key for marker in SDXL_MARKERS)][:2]
        if sdxl:
            raise LoraFormatError(
                f"LoRA {label} is made for SDXL (keys such as {', '.join(map(repr, sdxl))} target SDXL's second "
                "text encoder or added embeddings); this base model is SD 1.5: use an SD 1.5 LoRA")
    return fmt


def pipeline_components(pipeline) -> tuple[str, ...]:
    names = ("unet", "text_encoder", "text_encoder_2")
    return tuple(name for name in names if getattr(pipeline, name, None) is not None)


def check_lora_fits(state_dict: dict, pipeline, label: str) -> str:
    """Every LoRA layer names a module of this pipeline with matching widths; returns the format.

    Runs diffusers' own conversion (kohya -> diffusers -> PEFT keys) on a copy,
    then compares each lora_A/lora_B with the layer it adapts.
    """
    components = pipeline_components(pipeline)
    fmt = check_lora_keys(state_dict, label, components)
    converted = _diffusers_keys(state_dict, pipeline, fmt, label)
    for component in components:
        module = getattr(pipeline, component)
        for name, (down, up) in _peft_pairs(_component_part(converted, component), module, component).items():
            _check_layer(module, component, name, down, up, label)
    return fmt


def _diffusers_keys(state_dict: dict, pipeline, fmt: str, label: str) -> dict:
    if fmt == "kohya":
        converter = getattr(type(pipeline), "lora_state_dict", None)
        if converter is None:
            from diffusers import StableDiffusionPipeline

            converter = StableDiffusionPipeline.lora_state_dict
        try:
            converted, _alphas = converter(dict(state_dict))
        except (ValueError, KeyError) as error:
            raise LoraFormatError(f"LoRA {label}: kohya keys diffusers cannot convert: {error}") from None
        return converted
    if any(key.startswith(DIFFUSERS_PREFIXES) for key in state_dict):
        return dict(state_dict)
    prefix = "text_encoder." if all(key.startswith("text_model.") for key in state_dict) else "unet."
    return {prefix + key: value for key, value in state_dict.items()}


def _component_part(state_dict: dict, component: str) -> dict:
    prefix = f"{component}."
    return {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}


def _peft_pairs(part: dict, module, component: str) -> dict[str, list]:
    """module path -> [lora_A tensor, lora_B tensor] in PEFT naming, as diffusers converts them."""
    if not part:
        return {}
    from diffusers.utils import (
        convert_state_dict_to_diffusers,
        convert_state_dict_to_peft,
        convert_unet_state_dict_to_peft,
    )

    part = {k: v for k, v in part.items() if "lora_magnitude_vector" not in k and not k.endswith(".alpha")}
    if component == "unet":
        peft = part if any("lora_A" in k for k in part) else convert_unet_state_dict_to_peft(part)
    else:
        peft = convert_state_dict_to_peft(convert_state_dict_to_diffusers(part))
        if not hasattr(module, "text_model"):  # recent transformers: CLIPTextModel is flat
            peft = {k.removeprefix("text_model."): v for k, v in peft.items()}
    pairs: dict[str, list] = {}
    for key, tensor in peft.items():
        for side, marker in ((0, ".lora_A."), (1, ".lora_B.")):
            if marker in key and key.endswith(".weight"):
                pairs.setdefault(key.split(marker)[0], [None, None])[side] = tensor
    return pairs


def _check_layer(model, component: str, name: str, down, up, label: str) -> None:
    try:
        layer = model.get_submodule(name)
    except AttributeError:
        raise LoraFormatError(
            f"LoRA {label} adapts {component}.{name}, which this base model does not have: it was made for "
            "another base architecture") from None
    base = getattr(layer, "base_layer", layer)  # a layer already wrapped by PEFT
    width_in = getattr(base, "in_features", getattr(base, "in_channels", None))
    width_out = getattr(base, "out_features", getattr(base, "out_channels", None))
    if down is None or up is None:
        raise LoraFormatError(f"LoRA {label}: {component}.{name} has only one of its two LoRA matrices")
    if width_in is not None and down.shape[1] != width_in or width_out is not None and up.shape[0] != width_out:
        what = "cross-attention context" if name.endswith(("attn2.to_k", "attn2.to_v")) else "layer"
        raise LoraFormatError(
            f"LoRA {label} expects {component}.{name} to map {down.shape[1]} -> {up.shape[0]} features, this base "
            f"model's {what} maps {width_in} -> {width_out} (cross-attention width {_ARCHITECTURES}): it was made "
            "for another base architecture")
    if down.shape[0] != up.shape[1]:
        raise LoraFormatError(f"LoRA {label}: {component}.{name} has ranks {down.shape[0]} and {up.shape[1]}")
