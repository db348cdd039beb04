"""Face detection with 5 landmarks: dlib HOG on a downscaled copy."""

from __future__ import annotations

import cv2
import numpy as np

from components import dlib_models
from components.types import Face, Rejected


class DlibHogDetector:
    """dlib's HOG detector + 5-point shape predictor.

    Detection runs on a copy scaled to at most `max_side` px (HOG cost grows
    with pixels); boxes and landmarks are mapped back to the input's frame.
    Without upsampling HOG finds faces from ~80 px of the copy; a photo where
    it finds none is scanned again at `retry_upsample`.
    HOG finds upright faces only, which the orientation vote relies on.
    """

    def __init__(self, *, score_threshold: float = 0.3, max_side: int = 1024, upsample: int = 0,
                 retry_upsample: int = 1) -> None:
        if max_side < 64:
            raise ValueError(f"max_side must be >= 64, got {max_side}")
        for name, value in (("upsample", upsample), ("retry_upsample", retry_upsample)):
            if value not in (0, 1, 2):
                raise ValueError(f"{name} must be 0, 1 or 2, got {value}")
        self.score_threshold = float(score_threshold)
        self.max_side = int(max_side)
        self.upsample = int(upsample)
        self.retry_upsample = int(retry_upsample)
        self._hog = dlib_models.frontal_face_detector()
        self._shape5 = dlib_models.shape_predictor(dlib_models.SHAPE_5)

    def detect(self, image: np.ndarray) -> list[Face]:
        small, scale = downscale(image, self.max_side)
        rects, scores, _ = self._hog.run(small, self.upsample, self.score_threshold)
        # Upsampling finds faces under ~80 px but costs ~4.5x: only when nothing was found.
        if not rects and self.retry_upsample > self.upsample:
            rects, scores, _ = self._hog.run(small, self.retry_upsample, self.score_threshold)
        faces = []
        for rect, score in zip(rects, scores):
            shape = self._shape5(small, rect)
            bbox = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float64)
            faces.append(Face(bbox=bbox / scale, landmarks=dlib_models.shape_points(shape) / scale, score=float(score)))
        return sorted(faces, key=lambda f: f.area, reverse=True)


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A contiguous copy no larger than `max_side`, and the scale applied."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return (image if image.flags.c_contiguous and min(image.shape[:2]) > 1 else image.copy(order="C")), scale


def select_face(faces: list[Face], *, min_face_px: float, dominance: float, pixel_scale: float = 1.0) -> Face:
    """FaceChain's rule: one face, or a largest face >= `dominance` x the next by area.

    `pixel_scale` converts face widths back to the original photo's pixels
    (the working copy may be downscaled) for the size rule.
    """
    if not faces:
        raise Rejected("no face detected")
    largest = faces[0]
    if len(faces) > 1 and largest.area < dominance * faces[1].area:
        raise Rejected(
            f"{len(faces)} faces of similar size (largest is {largest.area / faces[1].area:.1f}x "
            f"the next, needs {dominance:g}x)"
        )
    width = largest.width / pixel_scale
    if width < min_face_px:
        raise Rejected(f"face too small: {width:.0f} px wide, needs at least {min_face_px:g} px")
    return largest
