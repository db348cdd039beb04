"""Building the projection + adapter pair from a config, and AdapterWeights <-> safetensors bytes."""

from __future__ import annotations

import json

import torch
from torch import nn

from components.adapters.fact import FactAdapter
from components.adapters.feedface import FeedFaceControl
from components.adapters.id_encoder import DLIB_EMBEDDING_DIM, LinearProjection, Resampler
from components.adapters.types import ADAPTER_KINDS, AdapterWeights
from components.diffusion.training_state import read_safetensors

WEIGHTS_FORMAT = "face-adapter/1"


def default_config(unet, kind: str, tokens: int) -> dict:
    """Dimensions for `kind` on `unet`: face tokens as wide as the UNet's text tokens."""
    check_kind(kind)
    width = unet.config.cross_attention_dim
    if not isinstance(width, int):
        raise ValueError(f"unsupported UNet cross_attention_dim {width!r} (one int expected)")
    config = {
        "format": WEIGHTS_FORMAT,
        "kind": kind,
        "encoder": "dlib",
        "in_dim": DLIB_EMBEDDING_DIM,
        "face_dim": width,
        "tokens": int(tokens),
        "scale": 1.0,
    }
    if kind == "fact":
        heads = 4 if width % 4 == 0 else 1
        config |= {"projection": "resampler", "resampler_heads": heads, "resampler_depth": 1, "cross_dim": width}
    else:
        config |= {"projection": "linear"}
    return config


def build_modules(unet, config: dict, seed: int = 0) -> tuple[nn.Module, FactAdapter | FeedFaceControl]:
    """(projection, adapter) for `config`, freshly initialised from `seed` (the caller's RNG is untouched)."""
    check_kind(config.get("kind"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if config["projection"] == "resampler":
            projection = Resampler(
                config["in_dim"],
                config["face_dim"],
                queries=config["tokens"],
                heads=config["resampler_heads"],
                depth=config["resampler_depth"],
            )
        elif config["projection"] == "linear":
            projection = LinearProjection(config["in_dim"], config["face_dim"], tokens=config["tokens"])
        else:
            raise ValueError(f"unknown projection {config['projection']!r}")
    if config["kind"] == "fact":
        adapter = FactAdapter(unet, config["cross_dim"], config["face_dim"], seed=seed + 1)
    else:
        adapter = FeedFaceControl(unet, config["face_dim"], seed=seed + 1)
    return projection.to(unet.device), adapter


def export_state(projection: nn.Module, adapter) -> dict[str, torch.Tensor]:
    state = {f"projection.{k}": v.detach().to("cpu").contiguous().clone() for k, v in projection.state_dict().items()}
    state |= {f"adapter.{k}": v for k, v in adapter.state_dict().items()}
    return state


def load_state(projection: nn.Module, adapter, state_dict: dict[str, torch.Tensor]) -> None:
    proj = {k[len("projection.") :]: v for k, v in state_dict.items() if k.startswith("projection.")}
    adap = {k[len("adapter.") :]: v for k, v in state_dict.items() if k.startswith("adapter.")}
    other = [k for k in state_dict if not k.startswith(("projection.", "adapter."))]
    if other:
        raise ValueError(f"unexpected keys in adapter weights: {other[:5]}")
    try:
        projection.load_state_dict(proj, strict=True)
    except RuntimeError as error:
        raise ValueError(f"projection weights do not match the config: {error}") from error
    adapter.load_state_dict(adap)


def weights_to_bytes(weights: AdapterWeights) -> bytes:
    """safetensors bytes: the tensors, with kind/config/losses as JSON metadata."""
    from safetensors.torch import save

    metadata = {
        "format": WEIGHTS_FORMAT,
        "kind": weights.kind,
        "config": json.dumps(weights.config),
        "losses": json.dumps(list(weights.losses)),
    }
    return save({k: v.contiguous() for k, v in weights.state_dict.items()}, metadata=metadata)


def weights_from_bytes(payload: bytes) -> AdapterWeights:
    tensors, metadata = read_safetensors(payload)
    if metadata.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"not a {WEIGHTS_FORMAT} payload")
    return AdapterWeights(
        kind=metadata["kind"],
        state_dict=tensors,
        config=json.loads(metadata["config"]),
        losses=[float(x) for x in json.loads(metadata["losses"])],
    )


def check_kind(kind) -> None:
    if kind not in ADAPTER_KINDS:
        raise ValueError(f"unknown adapter kind {kind!r}; kinds: {', '.join(ADAPTER_KINDS)}")
