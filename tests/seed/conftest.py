"""Seed model folders (random weights of the real architectures) built once per session, and real faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.seed import model_folders


@pytest.fixture(scope="session")
def seed_model(tmp_path_factory):
    """seed_model("rts") -> the folder of that random-weight model, built once per session."""
    root = tmp_path_factory.mktemp("seed-models")
    builders = {"rts": model_folders.write_rts, "fairface": model_folders.write_fairface,
                "flcm": model_folders.write_flcm, "fqa": model_folders.write_fqa_standin,
                "rot_bgr": model_folders.write_rot_bgr_standin, "m2fp": model_folders.write_m2fp}
    built = {}

    def folder(name: str):
        if name not in built:
            built[name] = builders[name](root / name)
        return built[name]

    return folder


@pytest.fixture(scope="session")
def landmarker():
    from components.landmarks import Dlib68Landmarker

    return Dlib68Landmarker()


@dataclass(frozen=True)
class FacePhoto:
    image: np.ndarray
    bbox: np.ndarray
    landmarks68: np.ndarray
    score: float
    width: float


@pytest.fixture(scope="session")
def face_photos(load_rgb, detector, landmarker):
    """Real photos with their face as our detect and landmarks stages find it."""
    photos = {}
    for name in ("obama.jpg", "biden.jpg", "obama2.jpg"):
        image = load_rgb(name, max_side=640)
        face = detector.detect(image)[0]
        photos[name] = FacePhoto(image, face.bbox, landmarker.landmarks68(image, face.bbox), face.score, face.width)
    return photos
