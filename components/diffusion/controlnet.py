"""ControlNets, offline only: "tiny" (test model built from the tiny UNet), a diffusers
folder, a .safetensors single file, or a hub id already in the local HF / ModelScope cache.
"""

from __future__ import annotations

from pathlib import Path

from components.diffusion.base_model import (PICKLE_SUFFIXES, BaseModelNotFound, _refuse_untrusted_pickle,
                                             find_cached_model, looks_like_path)

TINY = "tiny"
DEFAULT_OPENPOSE = "lllyasviel/control_v11p_sd15_openpose"
DEFAULT_CANNY = "lllyasviel/control_v11p_sd15_canny"
# A trained ControlNet's "zero" convolutions are no longer zero; the tiny test model's
# are drawn at this scale so that, like a trained one, it responds to its condition.
TINY_ZERO_CONV_STD = 0.1


class ControlNetNotFound(BaseModelNotFound):
    """The ControlNet is not on this machine; the message names it and says how to get it."""


def tiny_controlnet(unet, seed: int = 0):
    """A ControlNet with the tiny UNet's encoder, randomly initialised from `seed` (global RNG untouched)."""
    import torch
    from diffusers import ControlNetModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        controlnet = ControlNetModel.from_unet(unet)
        # PyTorch's default init shrinks the signal layer by layer while the biases add a constant:
        # the condition encoder's output would hardly depend on the condition. Variance-keeping
        # weights and zero biases make it respond, as a trained one does.
        embedding = controlnet.controlnet_cond_embedding
        for conv in [embedding.conv_in, *embedding.blocks]:
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            torch.nn.init.zeros_(conv.bias)
        for conv in [embedding.conv_out, *controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            torch.nn.init.normal_(conv.weight, std=TINY_ZERO_CONV_STD)
            torch.nn.init.zeros_(conv.bias)
    controlnet.to(unet.device)
    if controlnet.dtype != unet.dtype:
        controlnet.to(dtype=unet.dtype)
    controlnet.requires_grad_(False).eval()
    controlnet.is_test_model = True
    return controlnet


def load_controlnet(spec: str, *, unet=None, seed: int = 0, allow_pickle: bool = False, torch_dtype=None):
    """The ControlNet named by `spec`; "tiny" needs the (tiny) base `unet` it is built from."""
    spec = _clean(spec)
    if spec == TINY:
        if unet is None:
            raise ValueError("the tiny ControlNet is built from the base model's UNet: pass unet")
        return tiny_controlnet(unet, seed)
    check_controlnet(spec, allow_pickle=allow_pickle)
    from diffusers import ControlNetModel

    path = Path(spec).expanduser()
    if path.is_file():
        controlnet = _from_single_file(ControlNetModel, path, torch_dtype)
    else:
        folder = path if path.is_dir() else _cached(spec)
        controlnet = ControlNetModel.from_pretrained(folder, use_safetensors=None if allow_pickle else True,
                                                     local_files_only=True, torch_dtype=torch_dtype)
    controlnet.requires_grad_(False).eval()
    controlnet.is_test_model = False
    return controlnet


def check_controlnet(spec: str, *, allow_pickle: bool = False) -> None:
    """Fail now, naming the ControlNet and how to get it, without loading anything."""
    spec = _clean(spec)
    if spec == TINY:
        return
    path = Path(spec).expanduser()
    _refuse_untrusted_pickle(spec, allow_pickle)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{spec!r} is not a diffusers ControlNet folder (no config.json)")
        return
    if path.is_file():
        if path.suffix.lower() not in (".safetensors", *PICKLE_SUFFIXES):
            raise ValueError(f"{spec!r} is a file but not a .safetensors (or trusted pickle) ControlNet")
        return
    if looks_like_path(spec):
        raise ControlNetNotFound(f"ControlNet {spec!r}: no such file or folder")
    _cached(spec)


def _cached(repo_id: str) -> Path:
    try:
        return find_cached_model(repo_id, marker="config.json", what="ControlNet",
                                 instead="pass the ControlNet's diffusers folder or .safetensors file")
    except ControlNetNotFound:
        raise
    except BaseModelNotFound as error:
        raise ControlNetNotFound(str(error)) from None


def _from_single_file(model_class, path: Path, torch_dtype):
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return model_class.from_single_file(str(path), local_files_only=True, torch_dtype=torch_dtype)
    except LocalEntryNotFoundError as error:
        raise ControlNetNotFound(
            f"loading the single-file ControlNet {str(path)!r} needs its diffusers config, which is not in the "
            "local Hugging Face cache and cannot be downloaded here; on a connected machine convert it "
            "(ControlNetModel.from_single_file(FILE).save_pretrained(DIR)) and pass DIR"
        ) from error


def _clean(spec: str) -> str:
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"ControlNet must be a non-empty string, got {spec!r}")
    return spec.strip()
