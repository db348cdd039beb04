"""Roll correction by the FaceChain paper's least-squares rotation."""

from __future__ import annotations

import cv2
import numpy as np

from components.protocols import Detector
from components.types import Alignment, Face

# An upright, left-right symmetric face in dlib's 5-point order (y down):
# image-right eye outer/inner corner, image-left eye outer/inner corner, nose base.
# Ratios measured on a frontal photo; symmetry makes its roll exactly 0.
CANONICAL_5 = np.array([[1.0, 0.0], [0.45, 0.0], [-1.0, 0.0], [-0.45, 0.0], [0.0, 1.08]])


def normalise(points: np.ndarray) -> np.ndarray:
    """Subtract the mean, divide by the (scalar) std.

    A scalar std keeps the shape isotropic, so the fitted map stays close to a
    pure rotation; a per-axis std would shear it and bias the angle.
    """
    centred = points - points.mean(axis=0)
    return centred / max(float(centred.std()), 1e-9)


def roll_angle(landmarks: np.ndarray, template: np.ndarray = CANONICAL_5) -> float:
    """θ (radians) rotating `landmarks` onto the upright template.

    P1 = detected, P2 = template, both normalised; R = ((P1ᵀP1)⁻¹P1ᵀP2)ᵀ
    (least squares for P2 ≈ P1 Rᵀ); θ = arctan(R21/R22). arctan2 is used: it
    equals arctan whenever R22 > 0 (faces within ±90°, all that the
    orientation stage leaves) and keeps the quadrant otherwise.
    """
    p1, p2 = normalise(np.asarray(landmarks, float)), normalise(np.asarray(template, float))
    r = np.linalg.solve(p1.T @ p1, p1.T @ p2).T
    return float(np.arctan2(r[1, 0], r[1, 1]))


def rotation_about(centre: np.ndarray, theta: float) -> np.ndarray:
    """(2, 3) affine applying R(θ) about `centre`, in image (y-down) coordinates."""
    c, s = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    return np.hstack([rot, (centre - rot @ centre)[:, None]])


def levelling_matrix(shape: tuple[int, ...], theta: float) -> np.ndarray:
    """R(θ) about the photo's centre: rebuildable from the roll and the size alone."""
    return rotation_about(np.array([shape[1], shape[0]], dtype=float) / 2, theta)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.asarray(points, float) @ matrix[:, :2].T + matrix[:, 2]


def box_of(points: np.ndarray) -> np.ndarray:
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])


class LeastSquaresAligner:
    """Levels the eyes, then detects the face again in the levelled frame.

    Re-detection runs on a local window around the face (not the whole
    rotated photo), which costs a fraction of a full detection.
    """

    def __init__(self, *, detector: Detector, window: float = 2.2, window_px: int = 256,
                 max_roll: float = 60.0) -> None:
        self.detector = detector
        self.window = float(window)
        self.window_px = int(window_px)
        self.max_roll = float(max_roll)

    def align(self, image: np.ndarray, face: Face) -> Alignment:
        theta = roll_angle(face.landmarks)
        if abs(np.degrees(theta)) > self.max_roll:
            theta = 0.0  # implausible fit (bad landmarks): do not spin the photo
        level = levelling_matrix(image.shape, theta)
        return Alignment(
            roll=float(np.degrees(theta)),
            face=self._redetect(image, level, face),
            matrix=level,
            size=(image.shape[1], image.shape[0]),
        )

    def _redetect(self, image: np.ndarray, level: np.ndarray, face: Face) -> Face:
        """Detect in a window of the levelled photo; fall back to the rotated landmarks."""
        moved = apply_affine(level, face.landmarks)
        side = max(face.width, 1.0) * self.window
        centre = box_of(apply_affine(level, _corners(face.bbox))).reshape(2, 2).mean(axis=0)
        origin = centre - side / 2
        # Window of fixed size: the face lands at ~window_px / window px wide,
        # enough for HOG, whatever the photo's resolution.
        zoom = self.window_px / side
        to_window = np.vstack([level, [0, 0, 1]])
        to_window = (np.array([[zoom, 0, -origin[0] * zoom], [0, zoom, -origin[1] * zoom], [0, 0, 1]]) @ to_window)[:2]
        window = cv2.warpAffine(image, to_window, (self.window_px, self.window_px), flags=cv2.INTER_AREA,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
        nose = (moved - origin) * zoom
        found = [f for f in self.detector.detect(window) if _contains(f.bbox, nose)]
        if not found:
            return Face(bbox=box_of(apply_affine(level, _corners(face.bbox))), landmarks=moved, score=face.score)
        best = found[0]
        return Face(bbox=best.bbox / zoom + np.tile(origin, 2), landmarks=best.landmarks / zoom + origin,
                    score=best.score)


def _corners(bbox: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def _contains(bbox: np.ndarray, points: np.ndarray) -> bool:
    """The re-detected box holds the face's own nose: it is the same face."""
    x, y = points[4]
    return bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]
