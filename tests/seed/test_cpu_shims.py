"""The two CPU workarounds: torchvision beside the CPU torch wheel, mmcv's deformable attention in torch."""

from __future__ import annotations

import numpy as np
import torch


def test_torchvision_and_transformers_import_beside_cpu_torch():
    from components.seed.torchvision_cpu import import_torchvision

    torchvision = import_torchvision()
    from transformers import CLIPTextModel  # noqa: F401  imports torchvision when it is installed

    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)
    iou = torchvision.ops.box_iou(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 1, 3, 3]])).item()
    assert abs(iou - 1 / 7) < 1e-6


def test_deformable_attention_samples_pixel_centres_exactly_and_weighs_points():
    from components.seed.mmcv_msda import multi_scale_deformable_attn_pytorch

    torch.manual_seed(0)
    shapes = torch.tensor([[4, 6], [2, 3]])  # two levels
    heads, channels = 2, 3
    value = torch.randn(1, 4 * 6 + 2 * 3, heads, channels)
    # Query 0: level 0 pixel (row 1, col 4) with weight 0.75 and level 1 pixel (row 1, col 0) with weight 0.25.
    locations = torch.zeros(1, 1, heads, 2, 1, 2)
    locations[..., 0, 0, :] = torch.tensor([(4 + 0.5) / 6, (1 + 0.5) / 4])
    locations[..., 1, 0, :] = torch.tensor([(0 + 0.5) / 3, (1 + 0.5) / 2])
    weights = torch.zeros(1, 1, heads, 2, 1)
    weights[..., 0, 0], weights[..., 1, 0] = 0.75, 0.25
    out = multi_scale_deformable_attn_pytorch(value, shapes, locations, weights)
    assert out.shape == (1, 1, heads * channels)
    expected = 0.75 * value[0, 1 * 6 + 4] + 0.25 * value[0, 24 + 1 * 3 + 0]  # (heads, channels)
    np.testing.assert_allclose(out[0, 0].numpy(), expected.reshape(-1).numpy(), rtol=1e-5, atol=1e-6)
