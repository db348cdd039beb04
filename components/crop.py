"""Square face crop: face centred horizontally, a set fraction of the side."""

from __future__ import annotations

import cv2
import numpy as np

from components.alignment import apply_affine
from components.types import Alignment, Crop

MIN_FRACTION, MAX_FRACTION = 0.35, 0.45


class FaceCentredCropper:
    """One affine warp from the oriented photo (roll + crop + resize), white outside."""

    def __init__(self, *, size: int = 512, face_fraction: float = 0.4, vertical_centre: float = 0.5) -> None:
        if not MIN_FRACTION <= face_fraction <= MAX_FRACTION:
            raise ValueError(f"face_fraction must be in [{MIN_FRACTION}, {MAX_FRACTION}], got {face_fraction}")
        if size < 64 or size % 8:
            raise ValueError(f"size must be a multiple of 8 and >= 64, got {size}")
        self.size = int(size)
        self.face_fraction = float(face_fraction)
        self.vertical_centre = float(vertical_centre)

    def crop(self, image: np.ndarray, alignment: Alignment) -> Crop:
        matrix = self.crop_matrix(alignment)
        source, matrix_from_source = _prefiltered(image, matrix)
        out = (self.size, self.size)
        warped = cv2.warpAffine(source, matrix_from_source, out, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
        inside = cv2.warpAffine(np.ones(source.shape[:2], np.uint8), matrix_from_source, out,
                                flags=cv2.INTER_NEAREST, borderValue=0)
        face = alignment.face
        to_crop = self._level_to_crop(alignment)
        corners = apply_affine(to_crop, face.bbox.reshape(2, 2))
        return Crop(
            image=warped,
            matrix=matrix,
            landmarks=apply_affine(to_crop, face.landmarks),
            bbox=corners.reshape(4),
            outside_fraction=float(1.0 - inside.mean()),
        )

    def crop_matrix(self, alignment: Alignment) -> np.ndarray:
        """Oriented photo -> crop: the crop transform composed with the levelling."""
        to_crop = self._level_to_crop(alignment)
        level = np.vstack([alignment.matrix, [0, 0, 1]])
        return (np.vstack([to_crop, [0, 0, 1]]) @ level)[:2]

    def _level_to_crop(self, alignment: Alignment) -> np.ndarray:
        x0, y0, x1, y1 = alignment.face.bbox
        side = max(x1 - x0, 1.0) / self.face_fraction
        left = (x0 + x1) / 2 - side / 2
        top = (y0 + y1) / 2 - side * self.vertical_centre
        scale = self.size / side
        return np.array([[scale, 0, -left * scale], [0, scale, -top * scale]])


def _prefiltered(image: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Halve the source while the warp would shrink it > 2x (warpAffine does not anti-alias)."""
    matrix = matrix.copy()
    while np.sqrt(abs(np.linalg.det(matrix[:, :2]))) < 0.5 and min(image.shape[:2]) > 32:
        image = cv2.pyrDown(image)
        matrix[:, :2] *= 2.0
    return image, matrix
