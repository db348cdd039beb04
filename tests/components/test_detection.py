"""Face detection, the several-faces rule and orientation on the real photos."""

from __future__ import annotations

import numpy as np
import pytest

from components.detection import select_face
from components.orientation import DetectorVoteOrienter, rotate
from components.photo import decode_photo
from components.types import Face, Rejected
from tests.imagetools import with_exif_orientation


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"])
def test_one_face_with_five_plausible_landmarks(detector, load_rgb, name):
    image = load_rgb(name, max_side=2048)
    face = select_face(detector.detect(image), min_face_px=64, dominance=4)
    x0, y0, x1, y1 = face.bbox
    lm = face.landmarks
    assert lm.shape == (5, 2)
    assert face.score > 0.3
    # eyes above the nose, image-left eye left of image-right eye, all near the box
    assert lm[:4, 1].max() < lm[4, 1]
    assert lm[2, 0] < lm[0, 0]
    assert (lm[:, 0] > x0 - 0.1 * (x1 - x0)).all() and (lm[:, 0] < x1 + 0.1 * (x1 - x0)).all()


def test_boxes_are_mapped_back_from_the_downscaled_copy(detector, load_rgb):
    big = load_rgb("obama3.jpg", max_side=2048)
    small_det = type(detector)(max_side=512, upsample=1)
    a, b = detector.detect(big)[0], small_det.detect(big)[0]
    assert np.abs(a.bbox - b.bbox).max() < 0.08 * a.width


def test_no_face_and_several_faces_are_rejected(detector, load_rgb):
    with pytest.raises(Rejected, match="no face"):
        select_face(detector.detect(load_rgb("dogs.jpg")), min_face_px=64, dominance=4)
    with pytest.raises(Rejected, match="faces of similar size"):
        select_face(detector.detect(load_rgb("bald_guys.jpg")), min_face_px=1, dominance=4)


def test_dominant_face_kept_and_small_face_rejected():
    def face(side):
        return Face(bbox=np.array([0, 0, side, side], float), landmarks=np.zeros((5, 2)), score=1.0)

    assert select_face([face(100), face(40)], min_face_px=10, dominance=4).width == 100
    with pytest.raises(Rejected, match="similar size"):
        select_face([face(100), face(60)], min_face_px=10, dominance=4)
    with pytest.raises(Rejected, match="too small: 50 px"):
        select_face([face(100)], min_face_px=64, dominance=4, pixel_scale=2.0)


@pytest.fixture(scope="module")
def orienter():
    return DetectorVoteOrienter()


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg", "obama3.jpg"])
@pytest.mark.parametrize("turned", [90, 180, 270])
def test_photos_turned_by_pixels_come_out_upright(orienter, detector, load_rgb, name, turned):
    upright = load_rgb(name)
    result = orienter.orient(rotate(upright, turned))
    assert (turned + result.rotation) % 360 == 0
    assert np.array_equal(rotate(rotate(upright, turned), result.rotation), upright)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_photos_turned_by_exif_tag_come_out_upright(orienter, load_rgb, orientation):
    upright = load_rgb("obama.jpg", max_side=800)
    photo = decode_photo(with_exif_orientation(upright, orientation), max_pixels=10**8, max_side=800, min_side=32)
    assert photo.image.shape == upright.shape
    assert orienter.orient(photo.image).rotation == 0


def test_no_face_leaves_orientation_alone(orienter, load_rgb):
    assert orienter.orient(load_rgb("dogs.jpg")).rotation == 0


def test_hog_detector_loads_from_its_saved_copy_with_the_same_detections(load_rgb, tmp_path, monkeypatch):
    import time

    import dlib

    from components import dlib_models

    monkeypatch.setenv("PORTRAIT_PIPELINE_CACHE", str(tmp_path))
    built = dlib_models.frontal_face_detector()  # ~2 s: decompressed from dlib's embedded copy, then saved
    [saved] = tmp_path.glob(f"dlib-{dlib.__version__}-frontal_face_detector.svm")
    started = time.perf_counter()
    loaded = dlib_models.frontal_face_detector()
    assert time.perf_counter() - started < 0.5
    image = load_rgb("bald_guys.jpg")
    rects, scores, _ = built.run(image, 0, 0.0)
    again, again_scores, _ = loaded.run(image, 0, 0.0)
    assert len(rects) >= 20 and list(again) == list(rects) and again_scores == scores
    saved.write_bytes(b"damaged")
    assert len(dlib_models.frontal_face_detector().run(image, 0, 0.0)[0]) == len(rects)  # built again
    assert saved.stat().st_size > 100_000 and not list(tmp_path.glob(".*.tmp"))
