"""Resolve the user's --base-model to a Stable Diffusion pipeline of its family, offline only.

Accepted: "tiny" / "tiny-sdxl" (test models), a diffusers folder, a .safetensors
single file, a pickle checkpoint (.ckpt/.bin/.pt/.pth) only when trusted, or a
hub id that is already in the local Hugging Face or ModelScope cache. Nothing is
downloaded. The family (SD 1.5 or SDXL, components.diffusion.family) comes from
the folder's model_index.json or the single file's keys, and picks the pipeline class.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from components.diffusion.family import Family, family_from_checkpoint_type, family_from_model_index, family_named

PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")
TEST_MODELS = {"tiny": "sd15", "tiny-sdxl": "sdxl"}  # spec -> family of the in-process test model


class BaseModelNotFound(RuntimeError):
    """The base model is not available on this machine; the message says how to get it."""


def load_base_model(
    spec: str, *, allow_pickle: bool = False, torch_dtype=None, device: str = "cpu", seed: int = 0,
    vae: str | None = None,
):
    """The pipeline of `spec`'s family; `vae` replaces its VAE (e.g. SDXL's fp16-fix VAE: a folder or file)."""
    spec = _checked_spec(spec)
    if spec in TEST_MODELS:
        from components.diffusion import tiny

        build = tiny.build_tiny_sdxl_pipeline if TEST_MODELS[spec] == "sdxl" else tiny.build_tiny_pipeline
        pipeline = build(seed)
    else:
        _refuse_untrusted_pickle(spec, allow_pickle)
        path = Path(spec).expanduser()
        if path.is_dir():
            pipeline = _from_folder(path, allow_pickle, torch_dtype)
        elif path.is_file():
            if path.suffix.lower() not in (".safetensors", *PICKLE_SUFFIXES):
                raise ValueError(f"{spec!r} is a file but not a .safetensors (or trusted pickle) checkpoint")
            pipeline = _from_single_file(path, torch_dtype)
        elif looks_like_path(spec):
            raise BaseModelNotFound(f"base model {spec!r}: no such file or folder")
        else:
            pipeline = _from_folder(find_cached_model(spec), allow_pickle, torch_dtype)
        pipeline.is_test_model = False
    if vae is not None:
        pipeline.vae = load_vae(vae, allow_pickle=allow_pickle, torch_dtype=torch_dtype or pipeline.vae.dtype)
    if torch_dtype is not None and spec in TEST_MODELS:
        pipeline.to(dtype=torch_dtype)
    return pipeline.to(device)


def model_family(spec: str, *, allow_pickle: bool = False) -> Family:
    """The family of `spec` without loading weights (for stage keys and early checks)."""
    spec = _checked_spec(spec)
    if spec in TEST_MODELS:
        return family_named(TEST_MODELS[spec])
    _refuse_untrusted_pickle(spec, allow_pickle)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder_family(path)
    if path.is_file():
        return _single_file_family(path)
    if looks_like_path(spec):
        raise BaseModelNotFound(f"base model {spec!r}: no such file or folder")
    return _folder_family(find_cached_model(spec))


def load_vae(spec: str, *, allow_pickle: bool = False, torch_dtype=None):
    """An AutoencoderKL from a diffusers folder (config.json + weights) or a single file."""
    from diffusers import AutoencoderKL

    location = vae_location(spec, allow_pickle=allow_pickle)
    if location.is_file():
        return AutoencoderKL.from_single_file(str(location), local_files_only=True, torch_dtype=torch_dtype)
    return AutoencoderKL.from_pretrained(location, local_files_only=True, torch_dtype=torch_dtype,
                                         use_safetensors=None if allow_pickle else True)


def vae_location(spec: str, *, allow_pickle: bool = False) -> Path:
    """The VAE's folder or file (a path, or a cached hub id), found without loading it."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"VAE must be a non-empty path or hub id, got {spec!r}")
    spec = spec.strip()
    _refuse_untrusted_pickle(spec, allow_pickle)
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if looks_like_path(spec):
        raise BaseModelNotFound(f"VAE {spec!r}: no such file or folder")
    return find_cached_model(spec, marker="config.json", what="VAE")


def check_base_model(spec: str, *, allow_pickle: bool = False) -> None:
    """Fail now, with the same clear errors as loading, without loading anything."""
    spec = _checked_spec(spec)
    if spec in TEST_MODELS:
        return
    _refuse_untrusted_pickle(spec, allow_pickle)
    if Path(spec).expanduser().exists():
        return
    if looks_like_path(spec):
        raise BaseModelNotFound(f"base model {spec!r}: no such file or folder")
    find_cached_model(spec)


def find_cached_model(repo_id: str, *, marker: str = "model_index.json", what: str = "base model",
                      instead: str = "pass --base-model PATH to a diffusers folder or a .safetensors file") -> Path:
    """The local snapshot folder of a hub id (Hugging Face cache first, then ModelScope).

    `marker`: a glob a ModelScope folder must match a file of to count as the model; `what` and
    `instead` word the refusal.
    """
    hf_cache = _hf_cache_dir()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, or not a valid repo id: both mean "not here"
        pass
    ms_candidates = modelscope_candidates(repo_id)
    for candidate in ms_candidates:
        if candidate.is_dir() and any(candidate.glob(marker)):
            return candidate
    searched = "\n  ".join([str(hf_cache), *dict.fromkeys(str(c) for c in ms_candidates)])
    raise BaseModelNotFound(
        f"{what} {repo_id!r} is not in a local model cache and this machine cannot download it.\n"
        f"Searched:\n  {searched}\n"
        f"To get it: on a connected machine run `huggingface-cli download {repo_id}` (or "
        f"`modelscope download --model {repo_id}`) and copy the cache folder here, or {instead}."
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
    family = _folder_family(folder)
    try:
        return family.pipeline_class().from_pretrained(
            folder,
            use_safetensors=None if allow_pickle else True,  # None: prefer safetensors, fall back to .bin
            local_files_only=True,
            torch_dtype=torch_dtype,
            **family.load_kwargs(),
        )
    except (OSError, ValueError) as error:  # missing components or weights: say which model
        raise ValueError(f"{family.label} base model {str(folder)!r} could not be loaded: {error}") from error


def _folder_family(folder: Path) -> Family:
    index = folder / "model_index.json"
    if not index.is_file():
        raise ValueError(
            f"{str(folder)!r} is not a diffusers model folder (no model_index.json); "
            "pass the folder that holds model_index.json, unet/, vae/, text_encoder/ ..."
        )
    try:
        content = json.loads(index.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{str(index)!r} is not readable JSON: {error}") from None
    return family_from_model_index(content)


def _single_file_family(path: Path) -> Family:
    """The family from the checkpoint's keys and shapes, read by diffusers' own model-type inference."""
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    shapes = _checkpoint_shapes(path)
    if not any(key.startswith("model.diffusion_model.") for key in shapes):
        raise ValueError(f"{str(path)!r} holds no Stable Diffusion UNet (no model.diffusion_model.* keys)")
    return family_from_checkpoint_type(infer_diffusers_model_type(shapes))


def _checkpoint_shapes(path: Path) -> dict:
    """key -> an object with .shape, from the file's header only (safetensors) or a weights-only load."""
    if path.suffix.lower() == ".safetensors":
        return safetensors_shapes(path)
    import torch  # a trusted pickle (refused earlier otherwise)

    loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    loaded = loaded.get("state_dict", loaded)
    return {key: value for key, value in loaded.items() if hasattr(value, "shape")}


def safetensors_shapes(path: str | Path) -> dict:
    """key -> an object with .shape and .ndim, read from the file's header (no tensor is loaded)."""
    from types import SimpleNamespace

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    return {key: SimpleNamespace(shape=shape, ndim=len(shape)) for key, shape in shapes.items()}


def _from_single_file(path: Path, torch_dtype):
    from huggingface_hub.errors import LocalEntryNotFoundError

    family = _single_file_family(path)
    cls = family.pipeline_class()
    try:
        return cls.from_single_file(str(path), local_files_only=True, torch_dtype=torch_dtype,
                                    **family.load_kwargs())
    except LocalEntryNotFoundError as error:
        # The file holds weights only; diffusers fetches the model's configs from the hub.
        raise BaseModelNotFound(
            f"loading single-file {family.label} checkpoint {str(path)!r} needs the matching diffusers configs "
            "(model_index, scheduler, tokenizer, unet/vae/text encoder configs), which are not in the "
            "local Hugging Face cache and cannot be downloaded here. On a connected machine either "
            f"convert it to a diffusers folder ({cls.__name__}.from_single_file(FILE).save_pretrained(DIR)) "
            f"and pass --base-model DIR, or run `huggingface-cli download {family.reference_model} "
            "--exclude '*.safetensors' '*.bin' '*.ckpt'` and copy the cache here."
        ) from error


def _checked_spec(spec) -> str:
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"base model must be a non-empty string, got {spec!r}")
    return spec.strip()


def _refuse_untrusted_pickle(spec: str, allow_pickle: bool) -> None:
    if Path(spec).suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
        raise ValueError(
            f"pickle-based checkpoint {spec!r} refused: loading it can run arbitrary code; "
            "pass --trust-pickle to load it, or convert it to .safetensors"
        )


def looks_like_path(spec: str) -> bool:
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
