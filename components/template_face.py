"""One template face, prepared and replaced (FaceChain-FACT's inpainting template mode).

`prepare_face`: the square crop around face N, its landmarks, the face region mask, and
the two controls: the crop's pose (OpenPose body + the face's 68 points) for generating
the person in that pose, and the crop's Canny edges with the face (and the other faces)
blanked.

`replace_face`: a generated image of the person (already fused) is aligned onto the
template face by a 5-point similarity; its warped 68 points (as OpenPose face points)
and the template's edges steer an inpainting of the face region (strength ~0.6,
ControlNet scales ~[1.0, 0.2]), then a light refine pass (strength ~0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.alignment import apply_affine
from components.diffusion.controlled import inpaint
from components.openpose import draw_body, draw_face_points
from components.protocols import Detector, Landmarker, PoseEstimator
from components.template import (SquareCrop, canny_outside, choose_face, crop_square, face_region_mask,
                                  similarity_matrix, square_around, warp_face)
from components.fusion import face_mask
from components.types import Face, GenerationRequest, NoPersonFound, Rejected

INITS = ("template", "warped")


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


@dataclass(frozen=True)
class InpaintSettings:
    strength: float = 0.6
    scales: tuple[float, float] = (1.0, 0.2)  # OpenPose face points, Canny
    refine_strength: float = 0.1
    refine_scales: tuple[float, float] = (0.8, 0.8)
    refine_dilate: float = 0.02
    init: str = "template"  # FaceChain repaints the template crop; "warped": the aligned generated face

    def __post_init__(self) -> None:
        for name in ("strength", "refine_strength"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")


@dataclass(frozen=True)
class Replaced:
    image: np.ndarray  # the crop with the person's face
    mask: np.ndarray  # where it may differ from the template crop (paste-back mask)


def replace_face(prepared: PreparedFace, generated: np.ndarray, *, detector: Detector, landmarker: Landmarker,
                 identity, pipeline, request: GenerationRequest, settings: InpaintSettings) -> Replaced:
    """The template crop with the generated person's face; `request` holds one seed.

    Raises `Rejected` when the generated image has no usable face.
    """
    faces = detector.detect(generated)
    if not faces:
        raise Rejected("no face detected in the generated image")
    source = faces[0]
    source68 = landmarker.landmarks68(generated, source.bbox)
    matrix = similarity_matrix(source.landmarks, prepared.landmarks5)
    warped68 = apply_affine(matrix, source68)
    shape = prepared.image.shape[:2]
    composite, _ = warp_face(generated, face_mask(generated.shape[:2], source68), matrix, prepared.image)
    mask = np.maximum(prepared.mask, face_region_mask(shape, warped68))
    face_points = draw_face_points(warped68, shape)
    controls = [face_points, np.where(mask[..., None] > 0, 0, prepared.canny).astype(np.uint8)]
    start = prepared.image if settings.init == "template" else composite
    image = inpaint(identity, pipeline, request, start, mask, controls, list(settings.scales), settings.strength)[0]
    refine_mask = face_region_mask(shape, warped68, dilate=settings.refine_dilate, dilate_below_eyes=0.0)
    refine_controls = [face_points, canny_outside(image, np.zeros(shape, np.uint8))]
    image = inpaint(identity, pipeline, request, image, refine_mask, refine_controls, list(settings.refine_scales),
                    settings.refine_strength)[0]
    # The warped face and both passes' masks lie inside `mask`: nothing outside it is the person's.
    return Replaced(image=image, mask=mask)


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
