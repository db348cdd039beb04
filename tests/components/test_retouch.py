"""BilateralSkinRetoucher: smooths skin, leaves eyes, brows, lips and background alone."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from components import registry
from components.protocols import Retoucher
from components.retouch import BilateralSkinRetoucher
from tests.crops import real_crop


@pytest.fixture(scope="module")
def obama(load_rgb):
    crop = real_crop(load_rgb, "obama.jpg")
    return crop.image, crop.landmarks


def polygon_mask(shape, points: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def cheek_masks(shape, lm: np.ndarray) -> list[np.ndarray]:
    """Discs between jaw, lower eyelid and nostril: plain cheek skin above the smile fold."""
    fw = float(np.linalg.norm(lm[16] - lm[0]))
    masks = []
    for jaw, eyelid, nostril in ((lm[2], lm[41], lm[31]), (lm[14], lm[46], lm[35])):
        m = np.zeros(shape, np.uint8)
        centre = np.round((jaw + eyelid + nostril) / 3).astype(int)
        cv2.circle(m, (int(centre[0]), int(centre[1])), int(0.07 * fw), 1, -1)
        masks.append(m.astype(bool))
    return masks


def laplacian_var(image: np.ndarray, mask: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_32F)[mask].var())


def test_registry_creates_a_retoucher():
    retoucher = registry.create("retouch", "bilateral", strength=0.7)
    assert isinstance(retoucher, BilateralSkinRetoucher) and isinstance(retoucher, Retoucher)
    assert retoucher.strength == 0.7
    assert BilateralSkinRetoucher().strength == 0.5


@pytest.mark.parametrize("strength", [-0.1, 1.01, float("nan"), "strong", None, True])
def test_invalid_strength_raises(strength):
    with pytest.raises(ValueError):
        BilateralSkinRetoucher(strength=strength)


def test_strength_zero_is_identity(obama):
    crop, lm = obama
    out = BilateralSkinRetoucher(strength=0).retouch(crop, lm)
    assert out is not crop
    assert out.dtype == np.uint8 and np.array_equal(out, crop)


def test_full_strength_smooths_cheeks_only(obama):
    crop, lm = obama
    before = crop.copy()
    retoucher = BilateralSkinRetoucher(strength=1.0)
    retoucher.retouch(crop, lm)  # warm-up
    start = time.perf_counter()
    out = retoucher.retouch(crop, lm)
    print(f"retouch() {1000 * (time.perf_counter() - start):.1f} ms on a 512 crop")
    assert np.array_equal(crop, before)  # input not modified
    assert out.shape == crop.shape and out.dtype == np.uint8

    for cheek in cheek_masks(crop.shape[:2], lm):
        assert laplacian_var(out, cheek) < 0.6 * laplacian_var(crop, cheek)
    # Eyes and lips are untouched.
    for part in (lm[36:42], lm[42:48], lm[48:60]):
        inside = polygon_mask(crop.shape[:2], part)
        assert inside.sum() > 50
        assert np.array_equal(out[inside], crop[inside])
    # So is everything away from the face (background, clothes).
    far = np.ones(crop.shape[:2], bool)
    (x0, y0), (x1, y1) = lm.min(0).astype(int), lm.max(0).astype(int)
    far[y0 - 80 : y1 + 30, x0 - 30 : x1 + 30] = False
    assert np.array_equal(out[far], crop[far])


def test_half_strength_is_in_between(obama):
    crop, lm = obama
    half = BilateralSkinRetoucher(strength=0.5).retouch(crop, lm)
    full = BilateralSkinRetoucher(strength=1.0).retouch(crop, lm)
    cheek = cheek_masks(crop.shape[:2], lm)[0]
    assert laplacian_var(full, cheek) < laplacian_var(half, cheek) < laplacian_var(crop, cheek)
    # Half of the full change, up to rounding.
    diff_half = half.astype(int) - crop
    diff_full = full.astype(int) - crop
    assert np.abs(2 * diff_half - diff_full).max() <= 2


def test_flat_image_stays_flat():
    # Smoothing a flat grey "face" (degenerate landmarks too) must give it back exactly.
    image = np.full((256, 256, 3), 128, np.uint8)
    lm = np.stack([np.linspace(60, 196, 68), np.linspace(80, 200, 68)], axis=1)
    out = BilateralSkinRetoucher(strength=1.0).retouch(image, lm)
    assert np.array_equal(out, image)


def test_bad_inputs_raise():
    retoucher = BilateralSkinRetoucher()
    with pytest.raises(ValueError):
        retoucher.retouch(np.zeros((32, 32), np.uint8), np.zeros((68, 2)))
    with pytest.raises(ValueError):
        retoucher.retouch(np.zeros((32, 32, 3), np.uint8), np.zeros((5, 2)))
