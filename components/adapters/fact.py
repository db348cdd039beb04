"""FaceChain-FACT adapter: a face cross-attention inserted sequentially after each text cross-attention.

In every BasicTransformerBlock of the frozen UNet (h = the hidden state after self-attention):

    h'  = h  + attn2_text(norm2(h))                        (the base block, unchanged)
    h'' = h' + scale * FaceAttn(LN_face(h'), face_tokens)   (added by this adapter)

FaceAttn is an independent cross-attention (queries from the block's hidden
state, keys/values from the face tokens) whose output projection is
zero-initialised, so a fresh adapter leaves the UNet's output unchanged at any
scale, and scale 0 leaves it unchanged whatever the weights.

Wiring, without touching the UNet's modules or weights: a forward pre-hook on
`block.norm2` keeps h (norm2's input); a forward hook on `block.attn2` receives
the text output t = attn2_text(norm2(h)), computes Δh = scale * FaceAttn(LN(h + t))
and returns t + Δh, so the block's own residual `hidden = attn2_output + h` yields
h + t + Δh = h'' exactly. `detach()` removes the hooks.

With `record_increments = True`, each block's Δh is kept in `increments` (one
`Increment(delta (B, HW, C), size (H, W))` per block, cleared at every UNet
forward) for the FAIR loss.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from components.adapters.base import UNetAdapter, hidden_arg, layer_key, seeded


class Increment(NamedTuple):
    delta: torch.Tensor  # (B, H*W, C): scale * FaceAttn(...) of one block
    size: tuple[int, int] | None  # (H, W) of that block's feature map; None if not spatial


class FaceCrossAttention(nn.Module):
    """LN -> cross-attention on face tokens -> zero-initialised output projection."""

    def __init__(self, dim: int, face_dim: int, cross_dim: int, heads: int):
        super().__init__()
        from diffusers.models.attention_processor import Attention

        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(
            query_dim=dim, cross_attention_dim=face_dim, heads=heads, dim_head=cross_dim // heads, out_bias=True
        )
        nn.init.zeros_(self.attn.to_out[0].weight)
        nn.init.zeros_(self.attn.to_out[0].bias)

    def forward(self, hidden: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        return self.attn(self.norm(hidden), encoder_hidden_states=face)


class FactAdapter(UNetAdapter):
    """Face cross-attention after every text cross-attention of `unet`.

    face_dim: width of the face tokens given to `set_face_tokens` (keys/values).
    cross_dim: inner width (heads * head_dim) of every face attention.
    heads: attention heads; default the block's own attn2.heads when it divides cross_dim, else 1.
    seed: initialisation of the (non-zero) layers; the caller's RNG state is left untouched.
    """

    kind = "fact"

    def __init__(self, unet, cross_dim: int, face_dim: int, *, heads: int | None = None, seed: int = 0):
        super().__init__(unet)
        for name, value in (("cross_dim", cross_dim), ("face_dim", face_dim)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if heads is not None and (heads < 1 or cross_dim % heads):
            raise ValueError(f"heads ({heads}) must divide cross_dim ({cross_dim})")
        self.cross_dim, self.face_dim = int(cross_dim), int(face_dim)
        self.record_increments = False
        self.increments: list[Increment] = []
        self._saved_hidden: dict[str, torch.Tensor] = {}
        self._sizes: dict[int, tuple[int, int] | None] = {}

        def build():
            layers = nn.ModuleDict()
            for name, block, _ in self.blocks:
                n_heads = heads or (block.attn2.heads if cross_dim % block.attn2.heads == 0 else 1)
                dim = block.norm2.normalized_shape[0]
                layers[layer_key(name)] = FaceCrossAttention(dim, self.face_dim, self.cross_dim, n_heads)
            return layers

        self.layers = seeded(seed, build).to(unet.device)

    def config(self) -> dict:
        return {"cross_dim": self.cross_dim, "face_dim": self.face_dim}

    def _register_hooks(self) -> list:
        handles = []
        for parent in {id(p): p for _, _, p in self.blocks}.values():
            handles.append(parent.register_forward_pre_hook(self._size_hook(parent), with_kwargs=True))
        for name, block, parent in self.blocks:
            key = layer_key(name)
            handles.append(block.norm2.register_forward_pre_hook(self._keep_hidden_hook(key)))
            handles.append(block.attn2.register_forward_hook(self._face_hook(key, id(parent))))
        return handles

    def _on_unet_forward(self, module, args) -> None:
        self.increments = []
        self._saved_hidden.clear()

    def _size_hook(self, parent):
        def hook(module, args, kwargs):
            hidden = hidden_arg(args, kwargs)
            self._sizes[id(parent)] = tuple(hidden.shape[-2:]) if hidden.ndim == 4 else None

        return hook

    def _keep_hidden_hook(self, key: str):
        def hook(module, args):
            if self.face_tokens is not None:
                self._saved_hidden[key] = args[0]

        return hook

    def _face_hook(self, key: str, parent_id: int):
        layer = self.layers[key]

        def hook(module, args, output):
            hidden = self._saved_hidden.pop(key, None)
            if hidden is None or self.face_tokens is None or (self.scale == 0.0 and not self.record_increments):
                return None
            dtype = next(layer.parameters()).dtype
            face = self._face_for(hidden, dtype)
            delta = self.scale * layer((hidden + output).to(dtype), face)
            delta = delta.to(output.dtype)
            if self.record_increments:
                self.increments.append(Increment(delta, self._sizes.get(parent_id)))
            if self.scale == 0.0:
                return None
            return output + delta

        return hook
