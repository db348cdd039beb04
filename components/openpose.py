"""OpenPose's 18-joint body format and its drawing, as the pose ControlNets were trained on.

Joint order (COCO-18): 0 nose, 1 neck, 2-4 right shoulder/elbow/wrist, 5-7 left
shoulder/elbow/wrist, 8-10 right hip/knee/ankle, 11-13 left hip/knee/ankle,
14 right eye, 15 left eye, 16 right ear, 17 left ear ("right" = the person's
right, on the image's left for a person facing the camera).

The drawing follows OpenPose's renderer as used to make the
`control_v11p_sd15_openpose` training data: black canvas, limbs as ellipses
4 px thick in 60% of the limb colour, joints as 4 px discs in full colour;
face points as 3 px white discs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from components.types import BodyPose

JOINTS = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
          "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
          "right_eye", "left_eye", "right_ear", "left_ear")
NOSE, NECK, R_SHOULDER, L_SHOULDER = 0, 1, 2, 5

# Limbs as joint pairs (0-based), in OpenPose's drawing order; limb i has colour i.
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
COLOURS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
           (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
           (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
STICK_WIDTH = 4
LIMB_SHADE = 0.6
JOINT_RADIUS = 4
FACE_POINT_RADIUS = 3


def draw_body(pose: BodyPose, shape: tuple[int, int], canvas: np.ndarray | None = None) -> np.ndarray:
    """The skeleton on a black RGB canvas of `shape` (h, w) (or on `canvas`, in place); absent joints skipped."""
    canvas = np.zeros((*shape, 3), np.uint8) if canvas is None else canvas
    points = pose.keypoints
    for (a, b), colour in zip(LIMBS, COLOURS):
        if not (pose.present[a] and pose.present[b]):
            continue
        (xa, ya), (xb, yb) = points[a], points[b]
        length = math.hypot(xa - xb, ya - yb)
        angle = math.degrees(math.atan2(yb - ya, xb - xa))
        polygon = cv2.ellipse2Poly((int((xa + xb) / 2), int((ya + yb) / 2)), (int(length / 2), STICK_WIDTH),
                                   int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, [int(c * LIMB_SHADE) for c in colour])
    for index, colour in enumerate(COLOURS):
        if pose.present[index]:
            x, y = points[index]
            cv2.circle(canvas, (int(x), int(y)), JOINT_RADIUS, colour, thickness=-1)
    return canvas


def draw_face_points(points: np.ndarray, shape: tuple[int, int], canvas: np.ndarray | None = None) -> np.ndarray:
    """Face keypoints (e.g. the 68 landmarks) as OpenPose draws its face points: white dots on black."""
    canvas = np.zeros((*shape, 3), np.uint8) if canvas is None else canvas
    for x, y in np.asarray(points, float):
        if 0 <= x < shape[1] and 0 <= y < shape[0]:
            cv2.circle(canvas, (int(x), int(y)), FACE_POINT_RADIUS, (255, 255, 255), thickness=-1)
    return canvas


def fit_pose_map(pose_map: np.ndarray, size: int) -> np.ndarray:
    """An image (a ready skeleton, or a pose photo) letterboxed (black bars) into a size x size square, aspect kept."""
    h, w = pose_map.shape[:2]
    scale = size / max(h, w)
    resized = cv2.resize(pose_map, (max(1, round(w * scale)), max(1, round(h * scale))),
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    out = np.zeros((size, size, 3), np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    out[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return out
