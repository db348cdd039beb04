"""The one mmcv function M2FP needs on CPU, so that mmcv itself need not be installed.

modelscope's M2FP imports `MultiScaleDeformableAttnFunction` and
`multi_scale_deformable_attn_pytorch` from `mmcv.ops.multi_scale_deform_attn`
and calls the compiled function first, falling back to the pure-torch one
when that raises (its CPU path). mmcv's wheels on PyPI cannot serve here:
`mmcv-lite` has no compiled ops and pulls mmengine, matplotlib and the GUI
`opencv-python` (the same `cv2` files as our headless OpenCV); `mmcv`
(full) is a source package that needs a CUDA toolchain. So when no `mmcv`
is installed, `install()` registers a minimal `mmcv.ops.multi_scale_deform_attn`
holding only those two names: the compiled one raises (as it does without
CUDA), the other is written below from the operator's definition. With a
real mmcv installed (a GPU machine), nothing is registered.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

MODULE = "mmcv.ops.multi_scale_deform_attn"


class MultiScaleDeformableAttnFunction:
    """The compiled operator's name; without compiled ops it raises, as mmcv's does on CPU."""

    @staticmethod
    def apply(*args, **kwargs):
        raise NotImplementedError("compiled multi-scale deformable attention is not available (no mmcv ops)")


def multi_scale_deformable_attn_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """Multi-scale deformable attention by bilinear sampling, in plain torch.

    value (B, keys, heads, C) holds every level's H*W keys in a row;
    sampling_locations (B, Q, heads, levels, points, 2) are (x, y) in [0, 1];
    attention_weights (B, Q, heads, levels, points). Returns (B, Q, heads * C):
    for each query and head, the attention-weighted sum over levels and points
    of the level's value map sampled at the point.
    """
    import torch
    import torch.nn.functional as F

    batch, _, heads, channels = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in value_spatial_shapes]
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1] coordinates
    sampled = []
    for level, (level_value, (h, w)) in enumerate(zip(value.split([h * w for h, w in shapes], dim=1), shapes)):
        maps = level_value.permute(0, 2, 3, 1).reshape(batch * heads, channels, h, w)
        grid = grids[:, :, :, level].permute(0, 2, 1, 3, 4).reshape(batch * heads, queries, points, 2)
        sampled.append(F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    stacked = torch.stack(sampled, dim=-2)  # (B*heads, C, Q, levels, points)
    weights = attention_weights.permute(0, 2, 1, 3, 4).reshape(batch * heads, 1, queries, levels, points)
    output = (stacked * weights).sum(dim=(-1, -2))  # (B*heads, C, Q)
    return output.reshape(batch, heads * channels, queries).transpose(1, 2).contiguous()


def install() -> None:
    """Register the stand-in module unless a real mmcv is installed (or it is registered already)."""
    if MODULE in sys.modules or importlib.util.find_spec("mmcv") is not None:
        return
    parts = ["mmcv", "mmcv.ops", MODULE]
    modules = {name: ModuleType(name) for name in parts}
    leaf = modules[MODULE]
    leaf.MultiScaleDeformableAttnFunction = MultiScaleDeformableAttnFunction
    leaf.multi_scale_deformable_attn_pytorch = multi_scale_deformable_attn_pytorch
    modules["mmcv"].ops = modules["mmcv.ops"]
    modules["mmcv.ops"].multi_scale_deform_attn = leaf
    for name in parts:
        if name != MODULE:
            modules[name].__path__ = []  # a package: lets `import mmcv.ops.x` resolve through sys.modules
        sys.modules.setdefault(name, modules[name])
