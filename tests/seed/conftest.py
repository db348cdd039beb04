"""Seed model folders (random weights of the real architectures) built once per session, and real faces."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.seed import model_folders


@pytest.fixture(scope="session")
def seed_root(tmp_path_factory):
    return tmp_path_factory.mktemp("seed-models")


@pytest.fixture(scope="session")
def rts_dir(seed_root):
    return model_folders.write_rts(seed_root / "rts")


@pytest.fixture(scope="session")
def fairface_dir(seed_root):
    return model_folders.write_fairface(seed_root / "fairface")


@pytest.fixture(scope="session")
def flcm_dir(seed_root):
    return model_folders.write_flcm(seed_root / "flcm")


@pytest.fixture(scope="session")
def fqa_standin_dir(seed_root):
    return model_folders.write_fqa_standin(seed_root / "fqa")


@pytest.fixture(scope="session")
def rot_bgr_standin_dir(seed_root):
    return model_folders.write_rot_bgr_standin(seed_root / "rot_bgr")


@pytest.fixture(scope="session")
def m2fp_dir(seed_root):
    return model_folders.write_m2fp(seed_root / "m2fp")


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
