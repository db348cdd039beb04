"""Training losses of the two face adapters.

Masks are (B, 1, H, W) floats in [0, 1] (1 = face), at any resolution; each
loss resizes them with area interpolation (the mean of the mask over each
target cell) to the resolution it needs. A mask with batch 1 is broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def fair_loss(
    noise_pred: torch.Tensor,
    noise: torch.Tensor,
    increments: Sequence,
    face_mask: torch.Tensor,
    lam: float,
) -> torch.Tensor:
    """FACT's diffusion loss with Face Adapting Incremental Regularisation (FAIR).

    Implemented formula (B blocks b = 1..L, each increment Δh_b of shape (B, H_b*W_b, C_b)):

        L = mean((ε_θ − ε)²)  +  λ · (1/L) Σ_b mean( ((1 − M_b) ⊙ Δh_b)² )

    where ε_θ = `noise_pred`, ε = `noise` (the target), Δh_b = scale·FaceAttn(...) is
    the feature increment the face adapter adds in block b, M_b is `face_mask`
    area-resized to block b's H_b×W_b and broadcast over channels, and each mean
    is over every element (batch, positions, channels). With no increments the
    second term is 0.

    Why: the face adapter should only change the face. FAIR (the paper's
    incremental regularisation) penalises the adapter's feature increment
    outside the face region — where (1 − M_b) = 1 — so identity information is
    injected into the face while the layout, background and text control of the
    base model elsewhere are left alone. With M = 1 everywhere the loss is the
    plain diffusion mse; with M = 0 it adds λ·mean_b mean(Δh_b²).

    `increments`: items (delta, (H, W)) — e.g. fact.Increment — or deltas of
    shape (B, C, H, W). When the size is None it is derived from H_b*W_b and the
    mask's aspect ratio.
    """
    mse = F.mse_loss(noise_pred.float(), noise.float(), reduction="mean")
    if lam == 0 or not increments:
        return mse
    mask = _check_mask(face_mask)
    terms = []
    for item in increments:
        delta, size = (item, None) if torch.is_tensor(item) else (item[0], item[1])
        delta = delta.float()
        if delta.ndim == 4:  # (B, C, H, W) -> (B, HW, C)
            size = tuple(delta.shape[-2:])
            delta = delta.flatten(2).transpose(1, 2)
        if delta.ndim != 3:
            raise ValueError(f"an increment must be (B, HW, C) or (B, C, H, W), got {tuple(delta.shape)}")
        height, width = size if size is not None else _infer_size(delta.shape[1], mask.shape[-2:])
        if height * width != delta.shape[1]:
            raise ValueError(f"increment has {delta.shape[1]} positions, its size is {height}x{width}")
        outside = 1.0 - F.interpolate(mask, size=(height, width), mode="area")
        outside = outside.flatten(2).transpose(1, 2)  # (B or 1, HW, 1)
        terms.append(((outside * delta) ** 2).mean())
    return mse + float(lam) * torch.stack(terms).mean()


def mask_regularised_loss(
    eps_theta: torch.Tensor,
    eps: torch.Tensor,
    eps_hat: torch.Tensor | None,
    mask: torch.Tensor,
    plain: bool,
) -> torch.Tensor:
    """FeedFace's regularisation-mask loss.

    Implemented formula (M = `mask` area-resized to the latent H×W, broadcast over channels):

        plain = False:  L = mean( (M ⊙ (ε − ε_θ) + (1 − M) ⊙ (ε̂ − ε_θ))² )
        plain = True:   L = mean( (ε − ε_θ)² )

    ε = the noise target, ε_θ = the controlled model's prediction, ε̂ = the frozen
    base model's prediction for the same input (control detached or scale 0, no
    grad); the mean is over all elements, i.e. ‖·‖² per sample divided by its
    size, averaged over the batch. Inside the face the model learns the data
    (ε); outside it is pulled back to the base model (ε̂), so the control only
    edits the face. The trainer uses plain steps (a fraction chosen from
    (seed, step)) so the whole image still sees the diffusion loss. With M = 1
    the loss equals mse(ε, ε_θ); with M = 0 it equals mse(ε̂, ε_θ).
    """
    eps_theta, eps = eps_theta.float(), eps.float()
    if plain:
        return ((eps - eps_theta) ** 2).mean()
    if eps_hat is None:
        raise ValueError("eps_hat (the base model's prediction) is required unless plain=True")
    m = F.interpolate(_check_mask(mask), size=tuple(eps.shape[-2:]), mode="area")
    residual = m * (eps - eps_theta) + (1.0 - m) * (eps_hat.float().detach() - eps_theta)
    return (residual**2).mean()


def _check_mask(mask: torch.Tensor) -> torch.Tensor:
    if mask.ndim == 3:
        mask = mask[:, None]
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must have shape (B, 1, H, W), got {tuple(mask.shape)}")
    return mask.float()


def _infer_size(positions: int, mask_size) -> tuple[int, int]:
    mh, mw = int(mask_size[0]), int(mask_size[1])
    for factor in range(1, max(mh, mw) + 1):
        h, w = -(-mh // factor), -(-mw // factor)
        if h * w == positions:
            return h, w
        if h * w < positions:
            break
    raise ValueError(f"cannot tell the feature-map size of {positions} positions for a {mh}x{mw} mask; pass (H, W)")
