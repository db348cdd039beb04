"""Skin smoothing: a bilateral filter blended in only where the skin is.

The bilateral filter flattens pores and blemishes but keeps strong edges; the
landmark mask keeps it off the eyes, brows and lips (which must stay crisp)
and off the hair and background.
"""

from __future__ import annotations

import cv2
import numpy as np

# Sizes in units of the jaw width (face width in the crop).
FEATURE_MARGIN = 0.035  # eyes/brows/lips polygons grown by this much
BROW_THICKNESS = 0.05  # brows are a 5-point line; draw them this thick
FOREHEAD_BAND = 0.2  # forehead above the brows counted as candidate skin
FEATHER = 0.02  # mask edge blur (Gaussian sigma)
FILTER_SIGMA = 0.02  # bilateral spatial sigma
SKIN_SPREAD = 3.0  # colour test: within this many robust stds of the face's skin


class BilateralSkinRetoucher:
    """`strength` in [0, 1]: share of the smoothed image blended into the skin.

    out = original + strength * alpha * (bilateral(original) - original), with
    alpha the feathered skin mask (0 on eyes, brows, lips and off the face).
    strength 0 returns the input unchanged.
    """

    def __init__(self, strength: float = 0.5):
        try:
            value = float(strength)
        except (TypeError, ValueError):
            raise ValueError(f"strength must be a number in [0, 1], got {strength!r}") from None
        if isinstance(strength, bool) or not 0.0 <= value <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength!r}")
        self.strength = value

    def retouch(self, image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
        lm = np.asarray(landmarks68, dtype=np.float64)
        if lm.shape != (68, 2):
            raise ValueError(f"landmarks68 must have shape (68, 2), got {lm.shape}")
        if self.strength == 0.0:
            return image.copy()

        fw = max(float(np.linalg.norm(lm[16] - lm[0])), 8.0)
        # Work only on the face's bounding box plus the feather/filter reach.
        pad = int(np.ceil(3 * max(FEATHER, FILTER_SIGMA) * fw)) + 2
        outline = _face_outline(lm, fw)
        (x0, y0), (x1, y1) = outline.min(0), outline.max(0)
        x0, y0 = max(int(x0) - pad, 0), max(int(y0) - pad, 0)
        x1, y1 = min(int(x1) + pad + 1, image.shape[1]), min(int(y1) + pad + 1, image.shape[0])
        out = image.copy()
        if x1 - x0 < 4 or y1 - y0 < 4:
            return out
        box = image[y0:y1, x0:x1]
        alpha = skin_mask(box, lm - (x0, y0), fw)
        sigma = FILTER_SIGMA * fw
        smooth = cv2.bilateralFilter(box, d=int(2 * round(1.5 * sigma) + 1), sigmaColor=25,
                                     sigmaSpace=sigma)
        a = (self.strength * alpha)[..., None]
        blended = box + a * (smooth.astype(np.float32) - box)
        out[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        return out


def skin_mask(image: np.ndarray, lm: np.ndarray, fw: float) -> np.ndarray:
    """Feathered float mask in [0, 1]: face skin, exactly 0 on eyes, brows, lips."""
    h, w = image.shape[:2]
    face = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(_face_outline(lm, fw)).astype(np.int32)), 1)

    features = feature_mask((h, w), lm, fw)
    grown = cv2.dilate(features, _disc(max(1, round(FEATURE_MARGIN * fw))))
    skin = face.astype(bool) & ~grown.astype(bool)
    skin &= skin_colour(image, skin)

    alpha = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), max(0.5, FEATHER * fw))
    alpha[features > 0] = 0.0  # feathering must not reach the features themselves
    return alpha


def feature_mask(shape: tuple[int, int], lm: np.ndarray, fw: float) -> np.ndarray:
    """uint8 mask (1) of the eye and outer-lip polygons and the brow lines."""
    mask = np.zeros(shape, np.uint8)
    for part in (lm[36:42], lm[42:48], lm[48:60]):
        cv2.fillPoly(mask, [np.round(part).astype(np.int32)], 1)
    thickness = max(1, round(BROW_THICKNESS * fw))
    for brow in (lm[17:22], lm[22:27]):
        cv2.polylines(mask, [np.round(brow).astype(np.int32)], False, 1, thickness)
    return mask


def skin_colour(image: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """Pixels whose chroma (Cr, Cb) is close to the candidate region's median.

    Adaptive rather than a fixed skin range, so any skin tone and white
    balance works; drops hair, glasses frames and background inside the hull.
    """
    if candidate.sum() < 50:
        return candidate
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    chroma = ycc[..., 1:]
    samples = chroma[candidate][::3]  # a third is plenty for a median
    median = np.median(samples, axis=0)
    spread = 1.4826 * np.median(np.abs(samples - median), axis=0) + 2.0  # robust std + floor
    dist = np.abs(chroma - median) / spread
    return (dist.max(axis=2) <= SKIN_SPREAD) & candidate


def _face_outline(lm: np.ndarray, fw: float) -> np.ndarray:
    """Jaw and brows plus the brows raised onto the forehead."""
    across = lm[45] - lm[36]
    across = across / (np.linalg.norm(across) + 1e-9)
    down = np.array([-across[1], across[0]])  # eyes -> chin
    return np.concatenate([lm[0:27], lm[17:27] - down * FOREHEAD_BAND * fw])


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
