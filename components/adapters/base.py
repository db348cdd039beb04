"""What FACT and FeedFace share: trainable layers kept beside a frozen UNet, wired in by hooks.

The UNet's modules, weights and attention processors are never replaced or
modified: an adapter adds forward hooks on the UNet's own modules (removed by
`detach`), so a detached UNet is exactly the original one, and the adapter
works on top of LoRA adapters (PEFT wraps Linear layers inside the hooked
modules, not the modules themselves).
"""

from __future__ import annotations

import math

import torch
from torch import nn

SUPPORTED_NORM_TYPES = ("layer_norm",)


class UNetAdapter:
    """Base: `layers` (an nn.ModuleDict, one entry per hooked transformer block) + hook bookkeeping."""

    kind = ""

    def __init__(self, unet):
        self.unet = unet
        self.scale = 1.0
        self.face_tokens: torch.Tensor | None = None
        self.layers = nn.ModuleDict()
        self._handles: list = []
        self.blocks = transformer_blocks(unet)
        if not self.blocks:
            raise ValueError("the UNet has no BasicTransformerBlock with cross-attention to adapt")

    # -- runtime controls ---------------------------------------------------------

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def set_scale(self, scale: float) -> None:
        scale = float(scale)
        if not math.isfinite(scale):
            raise ValueError(f"scale must be finite, got {scale}")
        self.scale = scale

    def set_face_tokens(self, tokens: torch.Tensor | None) -> None:
        """Face tokens (B, N, face_dim) the adapter attends to; B must be 1 or the UNet batch.

        None switches the adapter off (the UNet then behaves as the base model).
        """
        if tokens is not None:
            if tokens.ndim != 3 or tokens.shape[-1] != self.face_dim:
                raise ValueError(f"face tokens must have shape (B, N, {self.face_dim}), got {tuple(tokens.shape)}")
        self.face_tokens = tokens

    def attach(self) -> UNetAdapter:
        if self.attached:
            raise ValueError(f"the {self.kind} adapter is already attached")
        if any(getattr(h, "_face_adapter", False) for h in self.unet._forward_pre_hooks.values()):
            raise ValueError("the UNet already carries a face adapter; detach it first")
        self.layers.to(self.unet.device)
        self._handles = self._register_hooks()

        def on_unet_forward(module, args):
            self._on_unet_forward(module, args)

        on_unet_forward._face_adapter = True
        self._handles.append(self.unet.register_forward_pre_hook(on_unet_forward))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self.attach()

    def __exit__(self, *exc):
        self.detach()

    # -- parameters -----------------------------------------------------------------

    def parameters(self):
        return self.layers.parameters()

    def named_parameters(self):
        return self.layers.named_parameters()

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flat name -> contiguous CPU tensor copy (safetensors.torch.save-ready)."""
        return {k: v.detach().to("cpu").contiguous().clone() for k, v in self.layers.state_dict().items()}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        own = self.layers.state_dict()
        missing, unexpected = sorted(set(own) - set(state_dict)), sorted(set(state_dict) - set(own))
        if missing or unexpected:
            raise ValueError(
                f"{self.kind} adapter state does not match this UNet: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        for key, tensor in state_dict.items():
            if tuple(tensor.shape) != tuple(own[key].shape):
                raise ValueError(f"{key}: shape {tuple(tensor.shape)} != expected {tuple(own[key].shape)}")
        self.layers.load_state_dict(state_dict, strict=True)

    def train(self, mode: bool = True):
        self.layers.train(mode)
        return self

    # -- for subclasses ---------------------------------------------------------------

    def _register_hooks(self) -> list:
        raise NotImplementedError

    def _on_unet_forward(self, module, args) -> None:
        """Called at the start of every UNet forward."""

    def _active(self) -> bool:
        return self.face_tokens is not None and self.scale != 0.0

    def _face_for(self, hidden: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        face = self.face_tokens
        batch = hidden.shape[0]
        if face.shape[0] == 1 and batch != 1:
            face = face.expand(batch, -1, -1)
        elif face.shape[0] != batch:
            raise ValueError(f"face tokens have batch {face.shape[0]}, the UNet batch is {batch} (use 1 or {batch})")
        return face.to(hidden.device, dtype)


def check_adapter_family(pipeline) -> None:
    """FACT and FeedFace need a family whose UNet takes the text encoder's states alone (SD 1.5)."""
    from components.diffusion.family import family_of

    family_of(pipeline).require_face_adapters()


def transformer_blocks(unet) -> list[tuple[str, nn.Module, nn.Module]]:
    """(name, block, parent Transformer2DModel) of every BasicTransformerBlock with text cross-attention."""
    from diffusers.models.attention import BasicTransformerBlock

    found = []
    for parent_name, parent in unet.named_modules():
        blocks = getattr(parent, "transformer_blocks", None)
        if not isinstance(blocks, nn.ModuleList):
            continue
        for index, block in enumerate(blocks):
            if not isinstance(block, BasicTransformerBlock) or block.attn2 is None:
                continue
            if block.norm_type not in SUPPORTED_NORM_TYPES or block.pos_embed is not None or block.only_cross_attention:
                raise ValueError(f"{parent_name}.transformer_blocks.{index}: unsupported block type ({block.norm_type})")
            found.append((f"{parent_name}.transformer_blocks.{index}", block, parent))
    return found


def layer_key(block_name: str) -> str:
    """ModuleDict keys cannot contain dots."""
    return block_name.replace(".", "_")


def hidden_arg(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def zero_linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def seeded(seed: int, build):
    """Run `build()` with the global torch RNG seeded, restoring the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()

