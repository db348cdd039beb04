"""Data passed between the adapter trainer and the adapter generator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ADAPTER_KINDS = ("fact", "feedface")


@dataclass(frozen=True)
class AdapterExample:
    image: np.ndarray  # HxWx3 uint8 curated crop, white background
    mask: np.ndarray  # HxW uint8 face/head mask: 255 (or 1) = face, 0 = elsewhere
    embedding: np.ndarray  # (128,) float dlib identity embedding of the face in `image`
    identity: str  # the person; photos of one person share it


@dataclass(frozen=True)
class AdapterWeights:
    kind: str  # "fact" or "feedface"
    state_dict: dict  # flat str -> CPU tensor: "projection.*" and "adapter.*" (safetensors-ready)
    config: dict  # JSON-able: kind, dims, tokens, default scale... enough to rebuild the modules
    losses: list[float] = field(default_factory=list)
