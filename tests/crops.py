"""A face-centred crop of a real photo with its 68 landmarks, for component tests."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class RealCrop:
    image: np.ndarray  # size x size x 3, white padding
    landmarks: np.ndarray  # (68, 2) in the crop
    outside: np.ndarray  # bool mask of the crop area outside the photo
    face_width: float  # dlib box width in the photo's pixels
    score: float  # dlib HOG score


def real_crop(load_rgb, name: str, size: int = 512) -> RealCrop:
    """Side 2.5x the largest dlib box, face centred, white outside the photo."""
    import dlib

    from components.dlib_models import SHAPE_68, shape_points, shape_predictor

    photo = load_rgb(name)
    boxes, scores, _ = dlib.get_frontal_face_detector().run(photo, 1, 0)
    best = int(np.argmax([b.area() for b in boxes]))
    box = boxes[best]
    x0, y0, x1, y1 = box.left(), box.top(), box.right(), box.bottom()
    k = size / (2.5 * (x1 - x0))
    matrix = np.array([[k, 0, size / 2 - k * (x0 + x1) / 2], [0, k, size / 2 - k * (y0 + y1) / 2]])
    crop = cv2.warpAffine(photo, matrix, (size, size), flags=cv2.INTER_AREA, borderValue=(255, 255, 255))
    corners = np.array([[x0, y0, 1], [x1, y1, 1]], float) @ matrix.T
    rect = dlib.rectangle(*(int(round(v)) for v in corners.ravel()))
    landmarks = shape_points(shape_predictor(SHAPE_68)(crop, rect))
    outside = cv2.warpAffine(np.zeros(photo.shape[:2], np.uint8), matrix, (size, size), borderValue=255) > 127
    return RealCrop(crop, landmarks, outside, float(x1 - x0), float(scores[best]))
