"""Locate and load the dlib model files shipped by `face_recognition_models`.

The package's `__init__` needs `pkg_resources` (absent in fresh venvs), so the
folder is found through the import system without importing it.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
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


def frontal_face_detector():
    """dlib's HOG face detector, loaded in milliseconds.

    `dlib.get_frontal_face_detector()` decompresses the detector from a copy
    embedded in dlib, which takes ~2 s (measured here, per call), paid by every
    process and every pooled instance that detects faces (a `rerun --stage rank`
    paid it twice). Saved uncompressed once per dlib version (155 KB, in the
    user's cache: `PORTRAIT_PIPELINE_CACHE`, else `$XDG_CACHE_HOME` or
    ~/.cache, `/portrait-pipeline`), it loads in ~2 ms with identical detections.
    A cache that cannot be read or written only costs the 2 s.
    """
    import dlib

    path = detector_cache_dir() / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:
            pass  # damaged: built and saved again below
    detector = dlib.get_frontal_face_detector()
    _save_detector(detector, path)
    return detector


def _save_detector(detector, path: Path) -> None:
    """Written under a temporary name, then renamed: processes starting together never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError:
        return
    try:
        detector.save(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError):
        Path(tmp).unlink(missing_ok=True)


def detector_cache_dir() -> Path:
    configured = os.environ.get("PORTRAIT_PIPELINE_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "portrait-pipeline"


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
