"""Pose extraction (embedded MediaPipe -> OpenPose joints), and drawing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from components import registry
from components.openpose import COLOURS, JOINTS, LIMB_SHADE, NECK, NOSE, L_SHOULDER, R_SHOULDER, draw_body, \
    fit_pose_map
from components.pose import openpose_from_mediapipe
from components.protocols import PoseEstimator
from components.types import BodyPose, NoPersonFound

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _photo(name: str) -> np.ndarray:
    with Image.open(SAMPLES / name) as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="module")
def estimator():
    return registry.create("pose", "mediapipe")


def test_standing_person_has_plausible_joints(estimator):
    """biden.jpg: a man standing, arms crossed, facing the camera (three-quarter length)."""
    assert isinstance(estimator, PoseEstimator)
    pose = estimator.estimate(_photo("biden.jpg"))
    assert pose.keypoints.shape == (len(JOINTS), 2)
    for joint in (NOSE, NECK, R_SHOULDER, L_SHOULDER, 8, 11):
        assert pose.present[joint], JOINTS[joint]
    nose, neck, right, left = pose.keypoints[[NOSE, NECK, R_SHOULDER, L_SHOULDER]]
    assert nose[1] < neck[1]  # nose above the neck (y grows downwards)
    assert right[0] < neck[0] < left[0]  # the person's right shoulder on the image's left
    assert abs(right[1] - left[1]) < 0.25 * (left[0] - right[0])  # shoulders level-ish
    hips_y = pose.keypoints[[8, 11], 1]
    assert (hips_y > neck[1]).all()
    assert np.allclose(neck, (right + left) / 2)


@pytest.mark.parametrize("name", ["dogs.jpg", "blank"])
def test_no_person_is_a_clear_error(estimator, name):
    image = np.full((480, 640, 3), 128, np.uint8) if name == "blank" else _photo(name)
    with pytest.raises(NoPersonFound, match="no person"):
        estimator.estimate(image)


def test_off_image_joints_are_absent_and_neck_is_shoulder_midpoint():
    landmarks = np.zeros((33, 3))
    landmarks[:, 2] = 0.9
    landmarks[:, :2] = 50.0
    landmarks[11, :2], landmarks[12, :2] = (70, 40), (30, 44)  # left, right shoulder
    landmarks[27, :2] = (60, 500)  # left ankle below the photo
    pose = openpose_from_mediapipe(landmarks, (100, 100), 0.3)
    assert np.allclose(pose.keypoints[NECK], (50, 42))
    assert not pose.present[13] and pose.present[12]


def test_skeleton_drawn_in_openpose_colours():
    points = np.full((18, 2), np.nan)
    scores = np.zeros(18)
    points[NOSE], points[NECK], points[R_SHOULDER] = (50, 20), (50, 50), (20, 52)
    scores[[NOSE, NECK, R_SHOULDER]] = 1.0
    canvas = draw_body(BodyPose(points, scores), (100, 100))
    assert tuple(canvas[20, 50]) == COLOURS[NOSE]
    assert tuple(canvas[50, 50]) == COLOURS[NECK]
    assert tuple(canvas[51, 35]) == tuple(int(c * LIMB_SHADE) for c in COLOURS[0])  # neck-right shoulder limb
    assert canvas[90, 90].sum() == 0  # black elsewhere; absent joints not drawn
    assert not (canvas == COLOURS[L_SHOULDER]).all(axis=2).any()


def test_ready_pose_map_is_letterboxed():
    tall = np.full((200, 100, 3), 255, np.uint8)
    fitted = fit_pose_map(tall, 64)
    assert fitted.shape == (64, 64, 3)
    assert fitted[:, :16].max() == 0 and fitted[:, 48:].max() == 0 and fitted[:, 20:44].min() == 255
