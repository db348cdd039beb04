"""The YuNet + HOG detector and orientation vote on the real photos (and rotated copies of them)."""

from __future__ import annotations

import numpy as np
import pytest

from components.alignment import LeastSquaresAligner, apply_affine, roll_angle
from components.detection import select_face
from components.orientation import rotate
from components.types import Rejected
from components.verified_faces import YuNetDetector, YuNetVoteOrienter, rotation_matrix
from components.yunet import YuNetProposer
from tests.imagetools import rotate_padded

SINGLE = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg",
          "obama_partial_face2.jpg", "obama2_rgba.png"]


@pytest.fixture(scope="module")
def fast_detector():
    return YuNetDetector()


@pytest.fixture(scope="module")
def fast_orienter(fast_detector):
    return YuNetVoteOrienter(detector=fast_detector)


@pytest.mark.parametrize("name", SINGLE)
def test_one_face_with_dlib_landmarks_in_place(fast_detector, detector, load_rgb, name):
    image = load_rgb(name, max_side=2048)
    face = select_face(fast_detector.detect(image), min_face_px=64, dominance=4)
    lm = face.landmarks
    assert lm.shape == (5, 2) and face.score > 0.3
    # dlib's order: image-right eye corners, image-left eye corners, nose base below both eyes
    assert lm[:4, 1].max() < lm[4, 1]
    assert lm[2:4, 0].max() < lm[0:2, 0].min()
    # the same points as dlib's own detector on the whole photo, within 3% of the face's width
    reference = detector.detect(image)[0]
    assert np.abs(lm - reference.landmarks).max() < 0.03 * reference.width
    assert np.abs(face.bbox - reference.bbox).max() < 0.2 * reference.width


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg"])
def test_proposals_have_eyes_above_nose_above_mouth(load_rgb, name):
    proposal = YuNetProposer().propose(load_rgb(name))[0]
    eyes, nose, mouth = proposal.points[:2], proposal.points[2], proposal.points[3:]
    assert eyes[:, 1].max() < nose[1] < mouth[:, 1].min()
    assert eyes[0, 0] < nose[0] < eyes[1, 0]


def test_dogs_are_no_face_and_bald_guys_are_several(fast_detector, load_rgb):
    # YuNet alone scores a dog's face 0.85 here: the HOG check is what rejects it.
    assert max(p.score for p in YuNetProposer().propose(load_rgb("dogs.jpg"))) > 0.8
    with pytest.raises(Rejected, match="no face"):
        select_face(fast_detector.detect(load_rgb("dogs.jpg")), min_face_px=64, dominance=4)
    faces = fast_detector.detect(load_rgb("bald_guys.jpg", max_side=2048))
    assert len(faces) >= 20
    with pytest.raises(Rejected, match="faces of similar size"):
        select_face(faces, min_face_px=1, dominance=4)


@pytest.mark.parametrize("name", ["obama.jpg", "biden.jpg", "obama3.jpg", "obama_partial_face.jpg"])
@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_vote_turns_photos_upright_and_its_face_is_the_detection(fast_orienter, fast_detector, load_rgb,
                                                                  name, turned):
    upright = load_rgb(name)
    found = fast_orienter.find(rotate(upright, turned))
    assert (turned + found.orientation.rotation) % 360 == 0
    # the vote's face, found on the turned photo, lies where detection on the upright photo puts it
    reference = fast_detector.detect(upright)[0]
    assert np.abs(found.faces[0].landmarks - reference.landmarks).max() < 0.03 * reference.width


def test_no_face_leaves_orientation_alone(fast_orienter, load_rgb):
    found = fast_orienter.find(load_rgb("dogs.jpg"))
    assert found.orientation.rotation == 0 and found.faces == []


def test_rotation_matrix_maps_pixels_like_rotate():
    image = np.arange(5 * 7 * 3).reshape(5, 7, 3)
    points = np.array([[0, 0], [6, 4], [3, 1], [6, 0]])
    for rotation in (0, 90, 180, 270):
        turned = rotate(image, rotation)
        moved = np.rint(apply_affine(rotation_matrix(image.shape, rotation), points)).astype(int)
        for (x, y), (u, v) in zip(points, moved):
            assert (turned[v, u] == image[y, x]).all()
    with pytest.raises(ValueError, match="multiple of 90"):
        rotation_matrix(image.shape, 45)


@pytest.mark.parametrize("degrees", [-30, -12, 12, 30])
def test_synthetic_roll_is_recovered_with_the_fast_detector(fast_detector, load_rgb, degrees):
    aligner = LeastSquaresAligner(detector=fast_detector)
    image = load_rgb("obama.jpg")
    baseline = aligner.align(image, fast_detector.detect(image)[0]).roll
    turned = rotate_padded(image, degrees)
    alignment = aligner.align(turned, fast_detector.detect(turned)[0])
    assert alignment.roll == pytest.approx(baseline + degrees, abs=2.0)
    assert abs(np.degrees(roll_angle(alignment.face.landmarks))) < 2.0


def test_upright_faces_detects_once_with_the_vote_and_after_any_other_orienter(fast_orienter, fast_detector,
                                                                               detector, load_rgb):
    from components.orientation import DetectorVoteOrienter
    from components.upright import upright_faces

    turned = rotate(load_rgb("biden.jpg"), 90)
    by_vote = upright_faces(fast_orienter, fast_detector, turned)
    by_hog = upright_faces(DetectorVoteOrienter(), detector, turned)
    assert by_vote.orientation.rotation == by_hog.orientation.rotation == 270
    width = by_hog.faces[0].width
    assert np.abs(by_vote.faces[0].landmarks - by_hog.faces[0].landmarks).max() < 0.03 * width
