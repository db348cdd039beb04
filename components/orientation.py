"""4-way orientation: a vote of the upright-only HOG face detector."""

from __future__ import annotations

import numpy as np

from components.detection import DlibHogDetector, downscale
from components.types import Orientation

ROTATIONS = (0, 90, 180, 270)


class DetectorVoteOrienter:
    """Tries the photo at 0/90/180/270 degrees and keeps the rotation whose best face scores highest.

    HOG only fires on upright faces, so the right rotation wins by a wide
    margin (upright real faces score >= 0.9 here, wrong rotations <= 0.7).
    A quick pass (upright, no upsampling) that finds a face scoring >=
    `confident_score` ends the vote early: most photos are upright and need one
    cheap detection instead of four thorough ones.
    """

    def __init__(self, *, max_side: int = 640, confident_score: float = 0.8, min_score: float = 0.3) -> None:
        self.max_side = int(max_side)
        self.confident_score = float(confident_score)
        self.min_score = float(min_score)
        self._quick = DlibHogDetector(score_threshold=-0.5, max_side=self.max_side, upsample=0, retry_upsample=0)
        self._thorough = DlibHogDetector(score_threshold=-0.5, max_side=self.max_side, upsample=1, retry_upsample=0)

    def orient(self, image: np.ndarray) -> Orientation:
        small, _ = downscale(image, self.max_side)
        quick = _best_score(self._quick, small)
        if quick >= self.confident_score:
            return Orientation(rotation=0, scores={0: quick})
        scores = {rotation: _best_score(self._thorough, rotate(small, rotation)) for rotation in ROTATIONS}
        best = max(scores, key=scores.__getitem__)
        # No rotation shows a credible face: leave the photo as it is.
        if scores[best] < self.min_score:
            best = 0
        return Orientation(rotation=best, scores=scores)


def _best_score(detector: DlibHogDetector, image: np.ndarray) -> float:
    return max((f.score for f in detector.detect(image)), default=float("-inf"))


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate counter-clockwise by a multiple of 90 degrees (as displayed)."""
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    # A real C-ordered copy: numpy calls a 1-px-wide view contiguous, dlib does not.
    return np.rot90(image, k=(rotation // 90) % 4).copy(order="C")
