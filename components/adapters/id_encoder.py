"""Face-identity encoders (face tokens) and the trainable projections onto the UNet's token space.

An ID encoder turns faces into face tokens of shape (B, N, D):

- `DlibIdEncoder` (the embedded default): the 128-d dlib ResNet embedding as one
  token (N=1, D=128). The curated dataset already holds it (`embedding` column),
  so it encodes embeddings, not images.
- `ClipIdEncoder`: a CLIP vision tower loaded from a local folder or the HF cache
  only; its face tokens are all patch tokens of `last_hidden_state` (CLS dropped).

A projection maps face tokens (B, N, in_dim) to the tokens an adapter attends to:

- `LinearProjection` (FeedFace): one linear layer per input token to `tokens`
  tokens of width `cross_dim`, then LayerNorm -> (B, N*tokens, cross_dim).
- `Resampler` (FaceChain-FACT): `queries` learnable queries attend over the
  projected face tokens (Perceiver-style, `depth` layers) -> (B, queries, cross_dim).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

DLIB_EMBEDDING_DIM = 128
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class DlibIdEncoder:
    """The dlib 128-d identity embedding as a single face token: (B, 128) -> (B, 1, 128)."""

    dim = DLIB_EMBEDDING_DIM
    tokens = 1

    def encode_embeddings(self, embeddings: np.ndarray) -> torch.Tensor:
        array = np.asarray(embeddings, dtype=np.float32)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"embeddings must have shape (B, {self.dim}), got {np.shape(embeddings)}")
        if not np.all(np.isfinite(array)):
            raise ValueError("embeddings must be finite")
        return torch.from_numpy(array.copy())[:, None, :]


class ClipIdEncoder:
    """CLIP vision patch tokens of face crops, from local weights only (no download).

    `model_path` is a folder holding a CLIPVisionModel (config + weights) or a hub
    id already in the local cache. Face tokens: last_hidden_state[:, 1:], i.e.
    every patch token, the CLS token dropped: (B, patches, hidden_size).
    """

    def __init__(self, model_path: str, device: str = "cpu"):
        from transformers import CLIPVisionModel

        try:
            model = CLIPVisionModel.from_pretrained(str(model_path), local_files_only=True)
        except (OSError, ValueError) as error:
            raise FileNotFoundError(
                f"no CLIP vision model at {model_path!r} (local folder or HF cache; nothing is downloaded): {error}"
            ) from error
        self.model = model.to(device).eval().requires_grad_(False)
        self.device = device
        self.image_size = int(model.config.image_size)
        self.dim = int(model.config.hidden_size)

    def encode_images(self, images: list[np.ndarray]) -> torch.Tensor:
        if not images:
            raise ValueError("no images to encode")
        pixels = torch.stack([self._preprocess(image) for image in images]).to(self.device)
        with torch.no_grad():
            hidden = self.model(pixel_values=pixels).last_hidden_state
        return hidden[:, 1:].float().cpu()

    def _preprocess(self, image: np.ndarray) -> torch.Tensor:
        if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8):
            raise ValueError("images must be HxWx3 uint8")
        x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0
        x = nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", align_corners=False)
        mean = torch.tensor(_CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(_CLIP_STD).view(1, 3, 1, 1)
        return ((x.clamp(0, 1) - mean) / std)[0]


class LinearProjection(nn.Module):
    """FeedFace projection: Linear(in_dim -> tokens*cross_dim) per face token, then LayerNorm.

    (B, N, in_dim) -> (B, N*tokens, cross_dim).
    """

    def __init__(self, in_dim: int, cross_dim: int, tokens: int = 4):
        super().__init__()
        _check_dims(in_dim=in_dim, cross_dim=cross_dim, tokens=tokens)
        self.in_dim, self.cross_dim, self.tokens = int(in_dim), int(cross_dim), int(tokens)
        self.proj = nn.Linear(in_dim, tokens * cross_dim)
        self.norm = nn.LayerNorm(cross_dim)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        face = _check_tokens(face, self.in_dim)
        b, n, _ = face.shape
        x = self.proj(face.to(self.proj.weight.dtype)).reshape(b, n * self.tokens, self.cross_dim)
        return self.norm(x)


class Resampler(nn.Module):
    """FACT projection: `queries` learnable queries attend over the face tokens.

    kv = Linear(in_dim -> cross_dim)(face); per layer: q += MHA(LN(q), LN([kv; q])),
    q += MLP(LN(q)); out = LN(Linear(q)). (B, N, in_dim) -> (B, queries, cross_dim).
    """

    def __init__(self, in_dim: int, cross_dim: int, queries: int = 4, heads: int = 4, depth: int = 1):
        super().__init__()
        _check_dims(in_dim=in_dim, cross_dim=cross_dim, tokens=queries)
        if heads < 1 or cross_dim % heads:
            raise ValueError(f"cross_dim ({cross_dim}) must be divisible by heads ({heads})")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.in_dim, self.cross_dim, self.tokens = int(in_dim), int(cross_dim), int(queries)
        self.latents = nn.Parameter(torch.randn(1, queries, cross_dim) / cross_dim**0.5)
        self.proj_in = nn.Linear(in_dim, cross_dim)
        self.layers = nn.ModuleList(_ResamplerLayer(cross_dim, heads) for _ in range(depth))
        self.proj_out = nn.Linear(cross_dim, cross_dim)
        self.norm_out = nn.LayerNorm(cross_dim)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        face = _check_tokens(face, self.in_dim)
        kv = self.proj_in(face.to(self.proj_in.weight.dtype))
        q = self.latents.expand(face.shape[0], -1, -1)
        for layer in self.layers:
            q = layer(q, kv)
        return self.norm_out(self.proj_out(q))


class _ResamplerLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        nq = self.norm_q(q)
        context = torch.cat([self.norm_kv(kv), nq], dim=1)
        q = q + self.attn(nq, context, context, need_weights=False)[0]
        return q + self.ff(self.norm_ff(q))


def _check_dims(**dims: int) -> None:
    for name, value in dims.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")


def _check_tokens(face: torch.Tensor, dim: int) -> torch.Tensor:
    if face.ndim == 2:
        face = face[:, None, :]
    if face.ndim != 3 or face.shape[-1] != dim:
        raise ValueError(f"face tokens must have shape (B, N, {dim}), got {tuple(face.shape)}")
    return face
