"""FeedFace face-control: a trainable control block beside every frozen BasicTransformerBlock.

For each transformer block B of the frozen UNet with input hidden state h:

    out = B(h) + scale * Z(C(h, face_tokens))

where the control block C is (ControlNet-style, its self-attention and MLP start
as copies of B's):

    x = h + SelfAttn(LN1(h))
    x = x + CrossAttn(LN2(x), face_tokens)
    x = x + MLP(LN3(x))

and Z is a zero-initialised Linear, so a fresh control leaves the UNet output
unchanged, and scale 0 leaves it unchanged whatever the weights.

Wiring: one forward hook per block (input h, output B(h)) returns the sum above;
the UNet's modules and weights are never modified and `detach()` removes the hooks.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from components.adapters.base import UNetAdapter, hidden_arg, layer_key, seeded, zero_linear


class ControlBlock(nn.Module):
    def __init__(self, block, face_dim: int):
        super().__init__()
        from diffusers.models.attention_processor import Attention

        dim = block.norm1.normalized_shape[0]
        heads = block.attn1.heads
        self.norm1 = copy.deepcopy(block.norm1)
        self.attn1 = copy.deepcopy(block.attn1)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(query_dim=dim, cross_attention_dim=face_dim, heads=heads, dim_head=dim // heads)
        self.norm3 = copy.deepcopy(block.norm3)
        self.ff = copy.deepcopy(block.ff)
        self.zero = zero_linear(dim, dim)
        self.float().requires_grad_(True)

    def forward(self, hidden: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        x = hidden + self.attn1(self.norm1(hidden))
        x = x + self.attn2(self.norm2(x), encoder_hidden_states=face)
        x = x + self.ff(self.norm3(x))
        return self.zero(x)


class FeedFaceControl(UNetAdapter):
    """Control blocks for every cross-attention transformer block of `unet`.

    face_dim: width of the face tokens given to `set_face_tokens`.
    seed: initialisation of the new (face cross-attention) layers; the caller's RNG is untouched.
    """

    kind = "feedface"

    def __init__(self, unet, face_dim: int, *, seed: int = 0):
        super().__init__(unet)
        if int(face_dim) != face_dim or face_dim < 1:
            raise ValueError(f"face_dim must be a positive integer, got {face_dim}")
        self.face_dim = int(face_dim)

        def build():
            return nn.ModuleDict({layer_key(name): ControlBlock(block, self.face_dim) for name, block, _ in self.blocks})

        self.layers = seeded(seed, build).to(unet.device)

    def config(self) -> dict:
        return {"face_dim": self.face_dim}

    def _register_hooks(self) -> list:
        return [
            block.register_forward_hook(self._control_hook(layer_key(name)), with_kwargs=True)
            for name, block, _ in self.blocks
        ]

    def _control_hook(self, key: str):
        layer = self.layers[key]

        def hook(module, args, kwargs, output):
            if not self._active():
                return None
            hidden = hidden_arg(args, kwargs)
            dtype = next(layer.parameters()).dtype
            control = layer(hidden.to(dtype), self._face_for(hidden, dtype))
            return output + self.scale * control.to(output.dtype)

        return hook
