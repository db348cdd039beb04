"""Photo quality from measured properties of the face crop.

Each property is mapped to a part in [0, 1] (1 = good), and the parts are
combined with a weighted geometric mean

    score = exp( sum_i w_i * log(max(p_i, 1e-3)) / sum_i w_i )

so a single very bad property (a blurred or tiny face) drags the score down
even when the others are perfect, which an arithmetic mean would hide.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from components.segmentation import padding_mask
from components.types import Quality

PARTS = ("sharpness", "face_size", "frontalness", "exposure", "detection")
DEFAULT_WEIGHTS = {"sharpness": 1.0, "face_size": 1.0, "frontalness": 1.0, "exposure": 1.0,
                   "detection": 0.5}
REASONS = {
    "sharpness": "the face is blurry",
    "face_size": "the face is too small in the photo",
    "frontalness": "the face is not looking at the camera",
    "exposure": "the face is too dark or too bright",
    "detection": "the face is hard to recognise as a face",
}
_FLOOR = 1e-3  # keeps log() finite; a part of 0 still sinks the score


class MeasuredQuality:
    """Scores a 512-px face crop; `score < threshold` means reject.

    Parts (each in [0, 1]):
    - sharpness: 1 - exp(-v / sharpness_scale), v = variance of the Laplacian
      of the grey face region (jaw + brow hull, padding excluded).
    - face_size: log-linear in the face width in the original photo, 0 at
      <= min_face_px, 1 at >= good_face_px (0.5 at 141 px for the defaults).
      A part of 0 alone caps the score at 1e-3 ** (w / sum w) ~ 0.22 < 0.3.
    - frontalness: geometric mean of (1 - 2|t - 0.5|), t = nose tip position
      along the eye-to-eye segment, and min/max of the nose-to-jaw-end distances.
    - exposure: 1 for a face-region mean brightness in [0.25, 0.75], falling
      linearly to 0 at 0.05 / 0.95, times (1 - clipped share / 0.25).
    - detection: 1 - exp(-max(detection_score, 0) / detection_scale).
    """

    def __init__(
        self,
        threshold: float = 0.3,
        min_face_px: float = 100.0,
        good_face_px: float = 200.0,
        sharpness_scale: float = 50.0,
        detection_scale: float = 1.0,
        weights: dict[str, float] | None = None,
    ):
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        if not float(min_face_px) > 0:
            raise ValueError(f"min_face_px must be > 0, got {min_face_px!r}")
        if not float(good_face_px) > float(min_face_px):
            raise ValueError(
                f"good_face_px ({good_face_px!r}) must exceed min_face_px ({min_face_px!r})"
            )
        scales = {"sharpness_scale": sharpness_scale, "detection_scale": detection_scale}
        for name, value in scales.items():
            if not float(value) > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        self.threshold = float(threshold)
        self.min_face_px = float(min_face_px)
        self.good_face_px = float(good_face_px)
        self.sharpness_scale = float(sharpness_scale)
        self.detection_scale = float(detection_scale)
        self.weights = _check_weights(weights)

    def score(
        self, image: np.ndarray, landmarks68: np.ndarray, face_width: float, detection_score: float,
        *, bbox: np.ndarray | None = None,
    ) -> Quality:
        """`bbox` is accepted for the protocol's sake: the landmarks already locate the face."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
        lm = np.asarray(landmarks68, dtype=np.float64)
        if lm.shape != (68, 2):
            raise ValueError(f"landmarks68 must have shape (68, 2), got {lm.shape}")
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        region = face_region(image, lm)
        parts = {
            "sharpness": sharpness(gray, region, self.sharpness_scale),
            "face_size": face_size(face_width, self.min_face_px, self.good_face_px),
            "frontalness": frontalness(lm),
            "exposure": exposure(gray, region),
            "detection": detection(detection_score, self.detection_scale),
        }
        parts = {k: float(np.clip(v, 0.0, 1.0)) for k, v in parts.items()}
        return Quality(score=combine(parts, self.weights), parts=parts)

    def weakest(self, parts: dict[str, float]) -> str:
        """Name of the worst part that counts (weight > 0), for the rejection reason."""
        counted = {k: v for k, v in parts.items() if self.weights.get(k, 0.0) > 0} or parts
        return min(counted, key=lambda k: counted[k])

    def reason(self, quality: Quality) -> str:
        """Human-readable reason naming the weakest part."""
        part = self.weakest(quality.parts)
        value = quality.parts[part]
        return f"{REASONS.get(part, part)} ({part} {value:.2f}, score {quality.score:.2f})"


def combine(parts: dict[str, float], weights: dict[str, float]) -> float:
    """Weighted geometric mean of the parts (see the module docstring)."""
    total = sum(weights[k] for k in parts)
    logs = sum(weights[k] * math.log(max(parts[k], _FLOOR)) for k in parts)
    return float(np.clip(math.exp(logs / total), 0.0, 1.0))


def face_region(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Jaw + brow hull, minus the crop's white padding (it is not photo)."""
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm[0:27]).astype(np.int32)), 1)
    region = mask.astype(bool) & ~padding_mask(image)
    return region if region.sum() >= 16 else mask.astype(bool)


def sharpness(gray: np.ndarray, region: np.ndarray, scale: float) -> float:
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    return 1.0 - math.exp(-float(lap[region].var()) / scale) if region.any() else 0.0


def face_size(face_width: float, min_face_px: float, good_face_px: float) -> float:
    # Log scale: doubling a small face helps as much as doubling a medium one.
    width = float(face_width)
    if not width > min_face_px:  # also catches nan
        return 0.0
    return min(1.0, math.log(width / min_face_px) / math.log(good_face_px / min_face_px))


def frontalness(lm: np.ndarray) -> float:
    left_eye, right_eye, nose = lm[36:42].mean(0), lm[42:48].mean(0), lm[30]
    across = right_eye - left_eye
    t = float(np.dot(nose - left_eye, across) / max(np.dot(across, across), 1e-9))
    centred = max(0.0, 1.0 - 2.0 * abs(t - 0.5))
    d_left, d_right = np.linalg.norm(nose - lm[0]), np.linalg.norm(nose - lm[16])
    balance = float(min(d_left, d_right) / max(d_left, d_right, 1e-9))
    return math.sqrt(centred * balance)


def exposure(gray: np.ndarray, region: np.ndarray) -> float:
    values = gray[region].astype(np.float32) / 255.0
    if values.size == 0:
        return 0.0
    mean = float(values.mean())
    # Plateau: skin tones differ, so any mid-range mean is fine.
    level = float(np.interp(mean, [0.05, 0.25, 0.75, 0.95], [0.0, 1.0, 1.0, 0.0]))
    clipped = float(((values <= 2 / 255) | (values >= 253 / 255)).mean())
    return level * max(0.0, 1.0 - clipped / 0.25)


def detection(score: float, scale: float) -> float:
    score = float(score)
    return 1.0 - math.exp(-score / scale) if math.isfinite(score) and score > 0 else 0.0


def _check_weights(weights: dict[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_WEIGHTS)
    if weights is not None:
        unknown = set(weights) - set(PARTS)
        if unknown:
            raise ValueError(
                f"unknown quality weights {sorted(unknown)}; parts: {', '.join(PARTS)}"
            )
        merged.update({k: float(v) for k, v in weights.items()})
    if any(not v >= 0 for v in merged.values()) or sum(merged.values()) <= 0:
        raise ValueError(f"quality weights must be >= 0 with a positive sum, got {merged}")
    return merged
