"""Face fusion: put the template's face onto the face of a generated image.

The template face is aligned to the target face by a similarity transform of
their 5 landmarks, colour-matched to the target's skin in LAB, and blended in
through a feathered mask built from the target's 68 landmarks.
"""

from __future__ import annotations

import cv2
import numpy as np

from components.landmarks import Dlib68Landmarker
from components.protocols import Detector, Landmarker
from components.types import Fusion

BLENDS = ("seamless", "alpha")
JAW = slice(0, 17)
BROWS = slice(17, 27)
# Brows are lifted by this share of the brow-to-chin height so the mask
# covers the forehead too, not just the eyes down.
BROW_LIFT = 0.2


class SeamlessCloneFuser:
    """Options: `blend` ("seamless" Poisson clone or "alpha" feathered blend),
    `strength` (0 = target unchanged .. 1 = full fusion), `colour_match`
    (match the template's LAB mean/std to the target inside the mask),
    `feather` (mask edge softness in px), `min_face_px` (smallest target face
    width fused)."""

    def __init__(self, *, detector: Detector, landmarker: Landmarker | None = None, blend: str = "seamless",
                 strength: float = 1.0, colour_match: bool = True, feather: int = 15,
                 min_face_px: float = 48.0) -> None:
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        if not 0.0 <= float(strength) <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {strength!r}")
        if not isinstance(feather, (int, np.integer)) or not 0 <= feather <= 100:
            raise ValueError(f"feather must be an int in [0, 100] px, got {feather!r}")
        if not float(min_face_px) > 0:
            raise ValueError(f"min_face_px must be > 0, got {min_face_px!r}")
        self.detector = detector
        self.landmarker = landmarker if landmarker is not None else Dlib68Landmarker()
        self.blend = blend
        self.strength = float(strength)
        self.colour_match = bool(colour_match)
        self.feather = int(feather)
        self.min_face_px = float(min_face_px)

    def fuse(self, template: np.ndarray, target: np.ndarray) -> Fusion:
        _check_image(template, "template")
        _check_image(target, "target")
        template_faces = self.detector.detect(template)
        if not template_faces:
            return Fusion(image=None, reason="no face detected in the template")
        target_faces = self.detector.detect(target)
        if not target_faces:
            return Fusion(image=None, reason="no face detected in the generated image")
        face = target_faces[0]
        if face.width < self.min_face_px:
            return Fusion(image=None, reason=f"face too small: {face.width:.0f} px wide, "
                                             f"needs at least {self.min_face_px:g} px")

        matrix, _ = cv2.estimateAffinePartial2D(template_faces[0].landmarks.astype(np.float32),
                                                face.landmarks.astype(np.float32), method=cv2.LMEDS)
        if matrix is None:
            return Fusion(image=None, reason="could not align the template face to the generated face")
        h, w = target.shape[:2]
        warped = cv2.warpAffine(template, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        # Only where the template really has pixels (not the reflected border).
        covered = cv2.warpAffine(np.full(template.shape[:2], 255, np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST)

        hull = face_mask((h, w), self.landmarker.landmarks68(target, face.bbox))
        hull = cv2.bitwise_and(hull, cv2.erode(covered, np.ones((3, 3), np.uint8)))
        if not hull.any():
            return Fusion(image=None, reason="the template face does not cover the generated face")
        if self.colour_match:
            warped = match_colours(warped, target, hull > 0)

        alpha = feathered(hull, self.feather)
        if self.blend == "seamless":
            warped = seamless_clone(warped, target, hull)
        fused = alpha_blend(warped, target, alpha * self.strength)
        return Fusion(image=fused, reason="")


def face_mask(shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """uint8 mask (255 inside): convex hull of the jaw and the lifted brows."""
    chin = lm[8]
    brows = lm[BROWS].copy()
    up = brows.mean(axis=0) - chin  # chin -> brows: the face's "up", roll included
    brows += BROW_LIFT * up
    hull = cv2.convexHull(np.vstack([lm[JAW], brows]).round().astype(np.int32))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    return mask


def feathered(mask: np.ndarray, feather: int) -> np.ndarray:
    """Float alpha in [0, 1]: the mask shrunk by half the feather, then blurred.

    Shrinking first keeps the soft edge inside the hull, so nothing of the
    template's background bleeds past the face outline.
    """
    alpha = mask.astype(np.float32) / 255.0
    if feather <= 0:
        return alpha
    k = max(1, feather // 2) * 2 + 1
    alpha = cv2.erode(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.GaussianBlur(alpha, (0, 0), feather / 2.0)


def match_colours(source: np.ndarray, reference: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """`source` with its LAB mean/std inside the mask moved to `reference`'s."""
    src = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    ref = cv2.cvtColor(reference.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    s_mean, s_std = src[inside].mean(axis=0), src[inside].std(axis=0)
    r_mean, r_std = ref[inside].mean(axis=0), ref[inside].std(axis=0)
    out = (src - s_mean) * (r_std / np.maximum(s_std, 1e-6)) + r_mean
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def seamless_clone(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson clone of `source` into `target` at the same place.

    seamlessClone centres the mask's bounding box at `center`, so the centre
    of that box keeps the clone in place; the mask stays off the image border,
    where OpenCV's clone would otherwise fail.
    """
    mask = mask.copy()
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0
    if not mask.any():
        return target.copy()
    x, y, w, h = cv2.boundingRect(mask)
    return cv2.seamlessClone(source, target, mask, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)


def alpha_blend(top: np.ndarray, bottom: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return np.clip(top * a + bottom * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def _check_image(image: np.ndarray, name: str) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        got = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"{name} must be an HxWx3 uint8 RGB array, got {got}")
