"""Small LoRA files and fake model caches for the style tests (real layouts, no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors.torch import save_file

# A UNet LoRA layer of the tiny test model (block 1 is the cross-attention block, 64 channels).
TINY_LAYER = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q"


def write_lora(path: Path, keys: dict[str, tuple[int, ...]] | None = None, seed: int = 0) -> Path:
    """A diffusers-format LoRA (tiny-model shapes by default) with random values."""
    keys = keys or {f"unet.{TINY_LAYER}.lora.down.weight": (4, 64), f"unet.{TINY_LAYER}.lora.up.weight": (64, 4)}
    generator = torch.Generator().manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.randn(shape, generator=generator) for k, shape in keys.items()}, str(path))
    return path


def hf_cache_repo(cache: Path, repo_id: str, files: dict[str, bytes], revision: str = "main") -> str:
    """The Hugging Face hub cache layout: blobs, refs/<revision> -> commit, snapshots/<commit>/<file> -> blob."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(repo_id.encode() + revision.encode()).hexdigest()
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (len(Path(name).parts) + 1)) / "blobs" / blob.name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit


def adapter_scales(pipeline) -> dict[str, float]:
    """Adapter name -> the scaling PEFT applies in the UNet (weight x alpha / rank; a file without alphas: weight)."""
    scales = {}
    for module in pipeline.unet.modules():
        scaling = getattr(module, "scaling", None)
        if isinstance(scaling, dict):
            scales.update({name: float(value) for name, value in scaling.items()})
    return scales


def record_adapter_scales(monkeypatch) -> list[dict[str, float]]:
    """Each generation's LoRA adapters as attached (both generate stages attach through `attach_loras`)."""
    from components.diffusion import generate

    seen: list[dict[str, float]] = []
    original = generate.attach_loras

    def spy(pipeline, loras):
        names = original(pipeline, loras)
        seen.append(adapter_scales(pipeline))
        return names

    monkeypatch.setattr(generate, "attach_loras", spy)
    return seen
