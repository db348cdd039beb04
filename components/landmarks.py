"""68-point landmarks inside a known face box (no detection)."""

from __future__ import annotations

import numpy as np

from components import dlib_models


class Dlib68Landmarker:
    def __init__(self) -> None:
        self._shape68 = dlib_models.shape_predictor(dlib_models.SHAPE_68)

    def landmarks68(self, image: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        shape = self._shape68(np.ascontiguousarray(image), dlib_models.to_rectangle(bbox))
        return dlib_models.shape_points(shape)
