"""Quality backends whose model gives one score for the face inside a box (FLCM, FQA)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from components.seed.faces import run_on_face, with_given_face
from components.seed.hub import SeedBackend
from components.types import Quality


class BoxScoreQuality(SeedBackend):
    """Scores the face at `bbox` (our detect stage's box) with a modelscope face pipeline.

    The model's score, clipped to [0, 1], is both `Quality.score` and its only
    part; photos scoring under `threshold` are rejected by the quality task.
    """

    PART: ClassVar[str]
    LABEL: ClassVar[str]  # what a low score means, for the rejection reason
    DEFAULT_THRESHOLD: ClassVar[float]

    def __init__(self, *, threshold: float | None = None, model_id: str | None = None, revision: str | None = None,
                 model_dir: str | None = None, trust_pickle: bool = False, device: str = "gpu") -> None:
        threshold = self.DEFAULT_THRESHOLD if threshold is None else threshold
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self._pipe = self._load(model_id=model_id, revision=revision, model_dir=model_dir,
                                trust_pickle=trust_pickle, use_det=False, device=device)
        self._given = with_given_face(self._pipe)

    def score(self, image: np.ndarray, landmarks68: np.ndarray, face_width: float, detection_score: float,
              *, bbox: np.ndarray | None = None) -> Quality:
        if bbox is None:
            raise ValueError(f"{type(self).__name__} scores the face inside a box: pass bbox= "
                             "(the face box in the image's pixels)")
        result = run_on_face(self._pipe, self._given, image, bbox, landmarks68, detection_score)
        if result.get("scores") is None:
            raise ValueError(f"{type(self).__name__} returned no score for the face")
        score = float(np.ravel(result["scores"])[0])
        if not math.isfinite(score):
            raise ValueError(f"{self.PART} score is not a number: {score}")
        score = min(1.0, max(0.0, score))
        return Quality(score=score, parts={self.PART: score})

    def weakest(self, parts: dict[str, float]) -> str:
        return self.PART

    def reason(self, quality: Quality) -> str:
        return f"{self.LABEL} ({self.PART} {quality.score:.3f} < {self.threshold:.3f})"
