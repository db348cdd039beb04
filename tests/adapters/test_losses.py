import pytest
import torch

from components.adapters.fact import Increment
from components.adapters.losses import fair_loss, mask_regularised_loss


def _tensors():
    g = torch.Generator().manual_seed(0)
    eps_theta, eps, eps_hat = (torch.randn(2, 4, 4, 4, generator=g) for _ in range(3))
    return eps_theta, eps, eps_hat


def test_mask_loss_hand_computed():
    eps_theta, eps, eps_hat = _tensors()
    mask = torch.zeros(2, 1, 4, 4)
    mask[:, :, 1:3, 1:3] = 1.0
    expected = ((mask * (eps - eps_theta) + (1 - mask) * (eps_hat - eps_theta)) ** 2).mean()
    assert torch.allclose(mask_regularised_loss(eps_theta, eps, eps_hat, mask, plain=False), expected)
    # A mask at image resolution is area-resized: an 8x8 mask of 2x2 blocks -> the same 4x4 mask.
    big = mask.repeat_interleave(2, -1).repeat_interleave(2, -2)
    assert torch.allclose(mask_regularised_loss(eps_theta, eps, eps_hat, big, plain=False), expected)
    # Element by element for one entry of the mean.
    one = torch.ones(1, 1, 1, 1)
    value = mask_regularised_loss(torch.tensor([[[[1.0]]]]), torch.tensor([[[[3.0]]]]), torch.tensor([[[[0.0]]]]), one * 0.25, False)
    assert value.item() == pytest.approx((0.25 * 2.0 + 0.75 * -1.0) ** 2)


def test_mask_loss_limits_and_plain():
    eps_theta, eps, eps_hat = _tensors()
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    mse_data, mse_base = ((eps - eps_theta) ** 2).mean(), ((eps_hat - eps_theta) ** 2).mean()
    assert torch.allclose(mask_regularised_loss(eps_theta, eps, eps_hat, ones, False), mse_data)
    assert torch.allclose(mask_regularised_loss(eps_theta, eps, eps_hat, zeros, False), mse_base)
    assert torch.allclose(mask_regularised_loss(eps_theta, eps, None, zeros, True), mse_data)
    with pytest.raises(ValueError):
        mask_regularised_loss(eps_theta, eps, None, zeros, False)


def test_fair_loss_hand_computed():
    eps_theta, eps, _ = _tensors()
    g = torch.Generator().manual_seed(1)
    d1 = torch.randn(2, 16, 8, generator=g)  # a 4x4 block
    d2 = torch.randn(2, 4, 8, generator=g)  # a 2x2 block
    mask = torch.zeros(2, 1, 4, 4)
    mask[0, :, :2, :2] = 1.0  # sample 0: face in the top-left quarter
    mask[1, :, :, :] = 0.5
    lam = 0.3
    mse = ((eps_theta - eps) ** 2).mean()
    out1 = (1 - mask).flatten(2).transpose(1, 2)  # (2, 16, 1)
    m2 = torch.stack([torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.full((2, 2), 0.5)])[:, None]  # area-resized
    out2 = (1 - m2).flatten(2).transpose(1, 2)
    reg = (((out1 * d1) ** 2).mean() + ((out2 * d2) ** 2).mean()) / 2
    got = fair_loss(eps_theta, eps, [Increment(d1, (4, 4)), Increment(d2, (2, 2))], mask, lam)
    assert torch.allclose(got, mse + lam * reg)
    # The size may be left out (derived from the mask's aspect ratio) or given by a (B, C, H, W) delta.
    d2_4d = d2.transpose(1, 2).reshape(2, 8, 2, 2)
    assert torch.allclose(fair_loss(eps_theta, eps, [(d1, None), d2_4d], mask, lam), got)


def test_fair_loss_limits():
    eps_theta, eps, _ = _tensors()
    deltas = [Increment(torch.randn(2, 16, 8), (4, 4)), Increment(torch.randn(2, 4, 8), (2, 2))]
    mse = ((eps_theta - eps) ** 2).mean()
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert torch.allclose(fair_loss(eps_theta, eps, deltas, ones, 0.5), mse)
    expected = mse + 0.5 * torch.stack([(d.delta**2).mean() for d in deltas]).mean()
    assert torch.allclose(fair_loss(eps_theta, eps, deltas, zeros, 0.5), expected)
    assert torch.allclose(fair_loss(eps_theta, eps, [], zeros, 0.5), mse)
    assert torch.allclose(fair_loss(eps_theta, eps, deltas, zeros, 0.0), mse)


def test_fair_loss_reaches_the_adapter_only_outside_the_face():
    eps_theta, eps, _ = _tensors()
    delta = torch.randn(1, 16, 8, requires_grad=True)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1.0  # top half is face
    fair_loss(eps_theta[:1], eps[:1], [(delta, (4, 4))], mask, 1.0).backward()
    grad = delta.grad.reshape(4, 4, 8)
    assert torch.all(grad[:2] == 0) and torch.all(grad[2:] != 0)
