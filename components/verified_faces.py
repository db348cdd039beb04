"""Fast detection: YuNet proposes, dlib's HOG confirms and measures each face in a small levelled window.

Why two detectors: YuNet is fast at any face size but also fires on dogs and
on upside-down faces; HOG fires only on upright human faces but is slow on a
whole photo (and needs upsampling for small faces). Run on a fixed 256 px
window around each proposal, turned so the proposal's eyes are level, HOG
costs ~5 ms and sees every face at ~115 px whatever the photo's size. A face
is kept only when HOG finds it there, around the proposal's nose.

What comes out is in dlib's conventions, so alignment, crop, the 68 landmarks
and the embedding see what they were built on: the 5 landmarks are dlib's
shape predictor's (eye corners and nose base, dlib's order), the score is
HOG's, and the box is HOG's square as HOG draws it on average around those
landmarks (see `hog_box_of`), axis-aligned in the photo.
"""

from __future__ import annotations

import numpy as np

from components import dlib_models
from components.alignment import apply_affine
from components.detection import downscale
from components.orientation import ROTATIONS, rotate
from components.types import Face, Orientation, UprightFaces
from components.yunet import Proposal, YuNetProposer, scaled


class HogVerifier:
    """HOG + dlib's 5-point shape predictor in a window levelled along a proposal's eye line."""

    def __init__(self, *, score_threshold: float = 0.3, window: float = 2.2, window_px: int = 256,
                 max_level: float = 45.0) -> None:
        if window <= 1:
            raise ValueError(f"window must be > 1 (a multiple of the proposal's size), got {window}")
        if window_px < 128:
            raise ValueError(f"window_px must be >= 128, got {window_px}")
        self.score_threshold = float(score_threshold)
        self.window = float(window)
        self.window_px = int(window_px)
        self.max_level = float(max_level)
        self._hog = dlib_models.frontal_face_detector()
        self._shape5 = dlib_models.shape_predictor(dlib_models.SHAPE_5)

    def verify(self, image: np.ndarray, proposal: Proposal, frame: np.ndarray | None = None) -> Face | None:
        """The face HOG finds around `proposal`, or None.

        `proposal` is in the coordinates of `frame`, an affine from `image` (for
        instance the photo turned by a multiple of 90 degrees); so is the face.
        """
        import cv2

        frame = np.array([[1.0, 0, 0], [0, 1.0, 0]]) if frame is None else frame
        to_window = self._window_matrix(proposal)
        sample = _compose(to_window, frame)
        window = cv2.warpAffine(image, sample, (self.window_px, self.window_px), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
        rects, scores, _ = self._hog.run(window, 0, self.score_threshold)
        nose = apply_affine(to_window, proposal.points[2:3])[0]
        found = [(score, rect) for rect, score in zip(rects, scores)
                 if rect.left() <= nose[0] <= rect.right() and rect.top() <= nose[1] <= rect.bottom()]
        if not found:
            return None
        score, rect = max(found, key=lambda item: item[0])
        points = dlib_models.shape_points(self._shape5(window, rect))
        back = cv2.invertAffineTransform(to_window)
        centre, side = hog_box_of(points)
        half = side / 2 / _zoom(to_window)
        centre = apply_affine(back, centre[None])[0]
        bbox = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])
        return Face(bbox=bbox, landmarks=apply_affine(back, points), score=float(score))

    def _window_matrix(self, proposal: Proposal) -> np.ndarray:
        """Frame -> window: the proposal centred, its eyes level (up to `max_level` degrees), `window` x its size."""
        x0, y0, x1, y1 = proposal.bbox
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        zoom = self.window_px / (max(x1 - x0, y1 - y0, 1.0) * self.window)
        eyes = proposal.points[1] - proposal.points[0]
        limit = np.radians(self.max_level)
        theta = float(np.clip(np.arctan2(eyes[1], eyes[0]), -limit, limit))
        c, s = np.cos(theta), np.sin(theta)
        linear = zoom * np.array([[c, s], [-s, c]])  # rotates the eye line onto the x axis
        return np.hstack([linear, (np.full(2, self.window_px / 2) - linear @ centre)[:, None]])


# HOG's square box in units of the 5 landmarks' spread (RMS distance from their centroid), upright face:
# medians over 238 HOG detections (the manifest photos at 600-2048 px, bald_guys' faces). HOG's own
# box snaps to its pyramid's 6/5 steps (side / spread: interquartile 4.04-4.65), so the same face can
# measure 15% smaller or larger from one copy to the next; rebuilt from the landmarks it cannot.
HOG_SIDE_PER_SPREAD = 4.30
HOG_CENTRE_BELOW_LANDMARKS = 0.615


def hog_box_of(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and side of HOG's box for an upright face's 5 dlib landmarks, without its quantisation."""
    centroid = points.mean(axis=0)
    spread = float(np.sqrt(((points - centroid) ** 2).sum(axis=1).mean()))
    return centroid + np.array([0.0, HOG_CENTRE_BELOW_LANDMARKS * spread]), HOG_SIDE_PER_SPREAD * spread


class YuNetDetector:
    """Detector protocol: YuNet proposals confirmed by `HogVerifier`, largest face first."""

    def __init__(self, *, max_side: int = 640, proposal_score: float = 0.6, score_threshold: float = 0.3,
                 window: float = 2.2, window_px: int = 256, max_faces: int = 32) -> None:
        self.proposer = YuNetProposer(max_side=max_side, score_threshold=proposal_score, max_faces=max_faces)
        self.verifier = HogVerifier(score_threshold=score_threshold, window=window, window_px=window_px)

    @property
    def max_side(self) -> int:
        return self.proposer.max_side

    def detect(self, image: np.ndarray) -> list[Face]:
        return self.detect_rotated(image, 0)

    def detect_rotated(self, image: np.ndarray, rotation: int) -> list[Face]:
        """The faces `YuNetVoteOrienter.find` finds at `rotation`, computed the same way."""
        small, scale = downscale(image, self.max_side)
        return self.detect_turned(image, small, scale, rotation)

    def detect_turned(self, image: np.ndarray, small: np.ndarray, scale: float, rotation: int) -> list[Face]:
        """Faces of `image` turned by `rotation`, in the turned photo's coordinates, without turning `image`.

        `small` is `image` downscaled by `scale` (made once by the caller for all rotations).
        """
        frame = rotation_matrix(image.shape, rotation)
        proposals = self.proposer.propose_on_copy(rotate(small, rotation))
        faces = []
        for proposal in proposals:
            face = self.verifier.verify(image, scaled(proposal, 1.0 / scale), frame)
            if face is not None and not any(_same_face(face, other) for other in faces):
                faces.append(face)
        return sorted(faces, key=lambda f: f.area, reverse=True)


class YuNetVoteOrienter:
    """Orienter protocol, and `find`: the orientation vote whose winning detection is the detection.

    Upright first: a confirmed face scoring >= `confident_score` ends the vote
    (most photos, one YuNet pass). Otherwise the three other rotations are
    tried; a rotation other than 0 must win with a face scoring >=
    `rotate_score`. Measured on ../shared/faces: confirmed upright faces score
    0.89-2.7, the best wrong-rotation candidate 0.34, and a dog's face that
    both detectors accept when dogs.jpg is turned by 270 degrees 0.61.
    """

    def __init__(self, *, confident_score: float = 0.8, rotate_score: float = 0.8,
                 detector: YuNetDetector | None = None, **detector_options) -> None:
        """`detector_options`: YuNetDetector's, for the detector the vote builds when none is given."""
        self.confident_score = float(confident_score)
        self.rotate_score = float(rotate_score)
        self.detector = detector or YuNetDetector(**detector_options)

    def orient(self, image: np.ndarray) -> Orientation:
        return self.find(image).orientation

    def find(self, image: np.ndarray) -> UprightFaces:
        small, scale = downscale(image, self.detector.max_side)
        found = {0: self.detector.detect_turned(image, small, scale, 0)}
        if _best(found[0]) < self.confident_score:
            for rotation in ROTATIONS[1:]:
                found[rotation] = self.detector.detect_turned(image, small, scale, rotation)
        scores = {rotation: _best(faces) for rotation, faces in found.items()}
        best = max(scores, key=scores.__getitem__)
        if best != 0 and scores[best] < self.rotate_score:
            best = 0  # weak evidence: most photos are upright, and a wrong turn loses the photo
        return UprightFaces(orientation=Orientation(rotation=best, scores=scores), faces=found[best])


def rotation_matrix(shape: tuple[int, ...], rotation: int) -> np.ndarray:
    """(2, 3) affine taking pixel coordinates of an image to those of `rotate(image, rotation)`."""
    height, width = shape[:2]
    k = (rotation // 90) % 4
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    return {0: np.array([[1.0, 0, 0], [0, 1, 0]]),
            1: np.array([[0.0, 1, 0], [-1, 0, width - 1]]),
            2: np.array([[-1.0, 0, width - 1], [0, -1, height - 1]]),
            3: np.array([[0.0, -1, height - 1], [1, 0, 0]])}[k]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """outer ∘ inner for (2, 3) affines."""
    return np.hstack([outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]])


def _zoom(matrix: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def _same_face(a: Face, b: Face) -> bool:
    """Two proposals confirmed as one face (their boxes' centres within half a face)."""
    centre = lambda f: (f.bbox[:2] + f.bbox[2:]) / 2  # noqa: E731
    return float(np.linalg.norm(centre(a) - centre(b))) < 0.5 * min(a.width, b.width)


def _best(faces: list[Face]) -> float:
    return max((f.score for f in faces), default=float("-inf"))
