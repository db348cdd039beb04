"""Locate and load the dlib model files shipped by `face_recognition_models`.

The package's `__init__` needs `pkg_resources` (absent in fresh venvs), so the
folder is found through the import system without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SHAPE_5 = "shape_predictor_5_face_landmarks.dat"
SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"


def model_file(name: str) -> str:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "face_recognition_models is not installed: pip install face_recognition_models==0.3.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise RuntimeError(f"dlib model file missing: {path}")
    return str(path)


def shape_predictor(name: str):
    import dlib

    return dlib.shape_predictor(model_file(name))


def face_recognition_model():
    import dlib

    return dlib.face_recognition_model_v1(model_file(RESNET))


def to_rectangle(bbox):
    import dlib

    x0, y0, x1, y1 = (int(round(float(v))) for v in bbox)
    return dlib.rectangle(x0, y0, x1, y1)


def shape_points(shape):
    """(N, 2) float array of a dlib shape's points."""
    import numpy as np

    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
