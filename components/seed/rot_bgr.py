"""orient: FaceChain's 4-way rotation classifier (`rot_bgr.onnx`) on onnxruntime."""

from __future__ import annotations

import cv2
import numpy as np

from components.seed.faces import check_rgb
from components.seed.hub import SeedBackend
from components.types import Orientation

# FaceChain's preprocessing: BGR, 224x224, (x - mean) * norm per channel.
INPUT_SIZE = 224
MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
NORM_BGR = np.array([0.01742919, 0.017507, 0.01712475], dtype=np.float32)
# Class k says how FaceChain turns the photo upright: 1 = 90° clockwise, 2 = 180°,
# 3 = 90° counter-clockwise; as our counter-clockwise rotation that makes it upright:
ROTATION_OF_CLASS = (0, 270, 180, 90)


class RotBgrOrienter(SeedBackend):
    """`Cherrytest/rot_bgr` (v1.0.0): a 4-class ONNX classifier of the whole photo's rotation.

    FaceChain loads it with plain onnxruntime from the snapshot folder, not
    through a modelscope pipeline, and so does this backend.
    """

    MODEL_ID = "Cherrytest/rot_bgr"
    REVISION = "v1.0.0"
    TASK = ""  # no modelscope pipeline
    FILES = ("rot_bgr.onnx",)
    LICENCE = "not stated on its ModelScope page (a FaceChain contributor's model)"

    def __init__(self, *, model_id: str | None = None, revision: str | None = None, model_dir: str | None = None,
                 min_score: float = 0.0) -> None:
        import onnxruntime

        from components.seed.hub import resolve_model_dir

        if not 0.0 <= float(min_score) <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score!r}")
        self.min_score = float(min_score)
        self.folder = resolve_model_dir(self.spec(model_id, revision), model_dir)
        self._session = onnxruntime.InferenceSession(str(self.folder / "rot_bgr.onnx"),
                                                     providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def orient(self, image: np.ndarray) -> Orientation:
        check_rgb(image)
        logits = self._session.run(None, {self._input: preprocess(image)})[0].reshape(-1)
        if logits.shape != (4,):
            raise ValueError(f"rotation model must give 4 logits, gave {logits.shape[0]}")
        probs = softmax(logits.astype(np.float64))
        scores = {ROTATION_OF_CLASS[k]: float(p) for k, p in enumerate(probs)}
        best = ROTATION_OF_CLASS[int(np.argmax(probs))]
        # An unsure classifier leaves the photo as it is.
        if scores[best] < self.min_score:
            best = 0
        return Orientation(rotation=best, scores=scores)


def preprocess(image: np.ndarray) -> np.ndarray:
    """(1, 3, 224, 224) float32 NCHW, FaceChain's normalisation, from an RGB photo."""
    bgr = cv2.resize(image[:, :, ::-1], (INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    return np.ascontiguousarray(((bgr - MEAN_BGR) * NORM_BGR).transpose(2, 0, 1)[None])


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()
