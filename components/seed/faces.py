"""Our face box and landmarks in place of the hub detector of modelscope's face pipelines.

RTS, FairFace, FLCM and FQA derive from `FaceProcessingBasePipeline`, which by
default builds DamoFD from the hub (offline: a ~34 s network stall, then an
error) and aligns the face it finds to 112x112 with five ArcFace points.
We build them with `use_det=False` (no detector is built) and then hand them
the face our own detect/landmarks stages found, through the same call the
base pipeline makes, so alignment and everything after it is modelscope's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

# iBUG 68-point groups; the image-left eye (36-41) is ArcFace's first point.
_LEFT_EYE, _RIGHT_EYE, _NOSE_TIP, _MOUTH_LEFT, _MOUTH_RIGHT = slice(36, 42), slice(42, 48), 30, 48, 54


def arcface_points(landmarks68: np.ndarray) -> np.ndarray:
    """(5, 2) eye centres, nose tip and mouth corners, the order modelscope's `align_face` expects."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks68 must have shape (68, 2), got {lm.shape}")
    return np.stack([lm[_LEFT_EYE].mean(0), lm[_RIGHT_EYE].mean(0), lm[_NOSE_TIP], lm[_MOUTH_LEFT],
                     lm[_MOUTH_RIGHT]])


class GivenFace:
    """Callable in the hub detector's place: answers with the one face it was told about."""

    def __init__(self) -> None:
        self._face: dict[str, list] | None = None

    def set(self, bbox: np.ndarray, points: np.ndarray, score: float = 1.0) -> None:
        bbox = np.asarray(bbox, dtype=np.float64).reshape(-1)
        points = np.asarray(points, dtype=np.float64)
        if bbox.shape != (4,) or not np.all(np.isfinite(bbox)) or bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
            raise ValueError(f"face box must be finite x0, y0, x1, y1 with x1 > x0, y1 > y0; got {bbox.tolist()}")
        if points.shape != (5, 2) or not np.all(np.isfinite(points)):
            raise ValueError(f"face points must be 5 finite (x, y) pairs, got shape {points.shape}")
        self._face = {"scores": [float(score)], "boxes": [bbox.tolist()], "keypoints": [points.reshape(-1).tolist()]}

    def __call__(self, image: Any) -> dict[str, list]:
        if self._face is None:
            raise RuntimeError("no face given: call set() before running the pipeline")
        return self._face


def with_given_face(pipe) -> GivenFace:
    """Make a pipeline built with use_det=False take its face from a GivenFace instead."""
    given = GivenFace()
    pipe.face_detection = given
    pipe.use_det = True
    return given


def run_on_face(pipe, given: GivenFace, image: np.ndarray, bbox: np.ndarray, landmarks68: np.ndarray,
                score: float = 1.0) -> dict[str, Any]:
    """One pipeline call on `image` (HxWx3 uint8 RGB) for the face at `bbox` with its 68 landmarks."""
    check_rgb(image)
    given.set(bbox, arcface_points(landmarks68), score)
    return pipe(Image.fromarray(image))


def check_rgb(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an HxWx3 uint8 array, got {getattr(image, 'shape', type(image))} "
                         f"{getattr(image, 'dtype', '')}")
