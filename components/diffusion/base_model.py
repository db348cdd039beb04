"""Resolve the user's --base-model to a Stable Diffusion pipeline, offline only.

Accepted: "tiny" (test model), a diffusers folder, a .safetensors single file,
a pickle checkpoint (.ckpt/.bin/.pt/.pth) only when trusted, or a hub id that
is already in the local Hugging Face or ModelScope cache. Nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")


class BaseModelNotFound(RuntimeError):
    """The base model is not available on this machine; the message says how to get it."""


def load_base_model(
    spec: str, *, allow_pickle: bool = False, torch_dtype=None, device: str = "cpu", seed: int = 0
):
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"base model must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec == "tiny":
        from components.diffusion.tiny import build_tiny_pipeline

        pipeline = build_tiny_pipeline(seed)
        return pipeline.to(device=device, dtype=torch_dtype) if torch_dtype else pipeline.to(device)

    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        raise ValueError(
            f"pickle-based checkpoint {spec!r} refused: loading it can run arbitrary code; "
            "pass --trust-pickle to load it, or convert it to .safetensors"
        )
    if path.is_dir():
        pipeline = _from_folder(path, allow_pickle, torch_dtype)
    elif path.is_file():
        if suffix not in (".safetensors", *PICKLE_SUFFIXES):
            raise ValueError(f"{spec!r} is a file but not a .safetensors (or trusted pickle) checkpoint")
        pipeline = _from_single_file(path, torch_dtype)
    elif _looks_like_path(spec):
        raise BaseModelNotFound(f"base model {spec!r}: no such file or folder")
    else:
        pipeline = _from_folder(find_cached_model(spec), allow_pickle, torch_dtype)
    pipeline.is_test_model = False
    return pipeline.to(device)


def refuse_pickle(path: Path, spec: str, what: str, allow_pickle: bool) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
        raise ValueError(f"pickle-based {what} {spec!r} refused: loading it can run arbitrary code; "
                         "pass --trust-pickle to load it, or convert it to .safetensors")


def check_base_model(spec: str, *, allow_pickle: bool = False) -> None:
    """Fail now, with the same clear errors as loading, without loading anything."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"base model must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec == "tiny":
        return
    path = Path(spec).expanduser()
    refuse_pickle(path, spec, "checkpoint", allow_pickle)
    if path.exists():
        return
    if _looks_like_path(spec):
        raise BaseModelNotFound(f"base model {spec!r}: no such file or folder")
    find_cached_model(spec)


def find_cached_model(repo_id: str, *, marker: str = "model_index.json", what: str = "base model",
                      instead: str = "pass --base-model PATH to a diffusers folder or a .safetensors file") -> Path:
    """The local snapshot folder of a hub id (Hugging Face cache first, then ModelScope).

    `marker` is the file a ModelScope folder of that kind of model holds; `what`
    and `instead` word the refusal.
    """
    hf_cache = _hf_cache_dir()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: both mean "not here"
        pass
    ms_candidates = modelscope_candidates(repo_id)
    for candidate in ms_candidates:
        if (candidate / marker).is_file():
            return candidate
    searched = "\n  ".join([str(hf_cache), *dict.fromkeys(str(c) for c in ms_candidates)])
    raise BaseModelNotFound(
        f"{what} {repo_id!r} is not in a local model cache and this machine cannot download it.\n"
        f"Searched:\n  {searched}\n"
        f"To get it: on a connected machine run `huggingface-cli download {repo_id}` (or "
        f"`modelscope download --model {repo_id}`) and copy the cache folder here, "
        f"or {instead}."
    )


def modelscope_candidates(repo_id: str) -> list[Path]:
    """Where ModelScope versions have kept a model: <cache>[/hub][/models]/<id>, '.' stored as '___'."""
    roots = []
    if os.environ.get("MODELSCOPE_CACHE"):
        roots.append(Path(os.environ["MODELSCOPE_CACHE"]).expanduser())
    roots += [Path.home() / ".cache" / "modelscope" / "hub", Path.home() / ".cache" / "modelscope"]
    names = list(dict.fromkeys([repo_id, repo_id.replace(".", "___")]))
    out = []
    for root in roots:
        for sub in ("", "hub", "models", "hub/models"):
            for name in names:
                out.append(root / sub / name if sub else root / name)
    return list(dict.fromkeys(out))


def _from_folder(folder: Path, allow_pickle: bool, torch_dtype):
    from diffusers import StableDiffusionPipeline

    if not (folder / "model_index.json").is_file():
        raise ValueError(
            f"{str(folder)!r} is not a diffusers model folder (no model_index.json); "
            "pass the folder that holds model_index.json, unet/, vae/, text_encoder/ ..."
        )
    return StableDiffusionPipeline.from_pretrained(
        folder,
        use_safetensors=None if allow_pickle else True,  # None: prefer safetensors, fall back to .bin
        local_files_only=True,
        torch_dtype=torch_dtype,
        safety_checker=None,
        requires_safety_checker=False,
    )


def _from_single_file(path: Path, torch_dtype):
    from diffusers import StableDiffusionPipeline

    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return StableDiffusionPipeline.from_single_file(
            str(path), local_files_only=True, torch_dtype=torch_dtype, safety_checker=None
        )
    except LocalEntryNotFoundError as error:
        # The file holds weights only; diffusers fetches the model's configs from the hub.
        raise BaseModelNotFound(
            f"loading single-file checkpoint {str(path)!r} needs the matching diffusers configs "
            "(model_index, scheduler, tokenizer, unet/vae/text encoder configs), which are not in the "
            "local Hugging Face cache and cannot be downloaded here. On a connected machine either "
            "convert it to a diffusers folder (StableDiffusionPipeline.from_single_file(FILE).save_pretrained(DIR)) "
            "and pass --base-model DIR, or run `huggingface-cli download stable-diffusion-v1-5/stable-diffusion-v1-5 "
            "--exclude '*.safetensors' '*.bin' '*.ckpt'` and copy the cache here."
        ) from error


def _looks_like_path(spec: str) -> bool:
    """Hub ids are "name" or "owner/name"; anything else is meant as a local path."""
    return (
        spec.startswith(("/", "./", "../", "~", "."))
        or "\\" in spec
        or spec.count("/") > 1
        or Path(spec).suffix.lower() in (".safetensors", *PICKLE_SUFFIXES)
    )


def _hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)
