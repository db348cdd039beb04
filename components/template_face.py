"""One template face replaced (FaceChain-FACT's inpainting template mode); the face is
prepared by `components.template_crop.prepare_face`.

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
from components.fusion import face_mask
from components.openpose import draw_face_points
from components.protocols import Detector, Landmarker
from components.template import canny_outside, face_region_mask, similarity_matrix, warp_face
from components.template_crop import PreparedFace
from components.types import GenerationRequest, Rejected

INITS = ("template", "warped")


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
