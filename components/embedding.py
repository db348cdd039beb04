"""Identity embedding: dlib's 128-d ResNet face descriptor."""

from __future__ import annotations

import numpy as np

from components import dlib_models

# dlib's own decision rule: Euclidean distance < 0.6 means the same person
# (measured here: same person <= 0.53, different >= 0.6).
SAME_PERSON_DISTANCE = 0.6


class DlibResnetEmbedder:
    def __init__(self, *, jitter: int = 0) -> None:
        if not 0 <= jitter <= 100:
            raise ValueError(f"jitter must be in [0, 100], got {jitter}")
        self.jitter = int(jitter)
        self._shape5 = dlib_models.shape_predictor(dlib_models.SHAPE_5)
        self._resnet = dlib_models.face_recognition_model()

    def embed(self, image: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image)
        shape = self._shape5(image, dlib_models.to_rectangle(bbox))
        return np.asarray(self._resnet.compute_face_descriptor(image, shape, self.jitter), dtype=np.float32)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
