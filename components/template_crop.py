"""One template face prepared for replacement (FaceChain-FACT's inpainting template mode):
the square crop around face N, its landmarks, the face region mask, and the two controls: the
crop's pose (OpenPose body + the face's 68 points) for generating the person in that pose, and
the crop's Canny edges with the face (and the other faces) blanked. No diffusion here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.openpose import draw_body, draw_face_points
from components.protocols import Landmarker, PoseEstimator
from components.template import (SquareCrop, canny_outside, choose_face, crop_square, face_region_mask,
                                  square_around)
from components.types import Face, NoPersonFound


@dataclass(frozen=True)
class PreparedFace:
    number: int  # 1-based, left to right
    crop: SquareCrop
    image: np.ndarray  # size x size crop of the template
    landmarks5: np.ndarray  # crop frame
    landmarks68: np.ndarray  # crop frame
    mask: np.ndarray  # face region, 255 inside
    pose_map: np.ndarray  # OpenPose body (when a body was found) + face points
    canny: np.ndarray  # edges outside the face region and the other faces
    body_found: bool


def prepare_face(template: np.ndarray, faces: list[Face], number: int, *, size: int, landmarker: Landmarker,
                 pose_estimator: PoseEstimator | None, face_ratio: float = 0.7, dilate: float = 0.04,
                 dilate_below_eyes: float = 0.1, canny_low: int = 100, canny_high: int = 200) -> PreparedFace:
    """`faces` numbered left to right (`ordered_faces`)."""
    face = choose_face(faces, number)
    crop = square_around(face.bbox, size, face_ratio)
    image = crop_square(template, crop)
    bbox = crop.to_crop(np.asarray(face.bbox, float).reshape(2, 2)).reshape(-1)
    landmarks68 = landmarker.landmarks68(image, bbox)
    mask = face_region_mask(image.shape[:2], landmarks68, dilate=dilate, dilate_below_eyes=dilate_below_eyes)
    others = _other_faces_mask(faces, face, crop)
    canny = canny_outside(image, np.maximum(mask, others), canny_low, canny_high)
    pose_map, body_found = np.zeros_like(image), False
    if pose_estimator is not None:
        try:
            draw_body(pose_estimator.estimate(image), image.shape[:2], canvas=pose_map)
            body_found = True
        except NoPersonFound:  # a tight head crop often shows too little body: the face points still steer
            pass
    draw_face_points(landmarks68, image.shape[:2], canvas=pose_map)
    return PreparedFace(number=int(number), crop=crop, image=image, landmarks5=crop.to_crop(face.landmarks),
                        landmarks68=landmarks68, mask=mask, pose_map=pose_map, canny=canny, body_found=body_found)


def _other_faces_mask(faces: list[Face], chosen: Face, crop: SquareCrop) -> np.ndarray:
    mask = np.zeros((crop.size, crop.size), np.uint8)
    for face in faces:
        if face is chosen:
            continue
        x0, y0, x1, y1 = crop.to_crop(np.asarray(face.bbox, float).reshape(2, 2)).reshape(-1)
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(crop.size, int(np.ceil(x1))), min(crop.size, int(np.ceil(y1)))
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = 255
    return mask
