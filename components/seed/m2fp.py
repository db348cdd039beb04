"""segment: M2FP multiple-human parsing; head = face + hair, as FaceChain builds it, background white.

Licence: M2FP's code is CC BY-NC 4.0 (non-commercial use only).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from components.seed.faces import check_rgb
from components.seed.hub import CONFIGURATION, SeedBackend
from components.segmentation import composite_on_white
from components.types import Rejected, Segmentation

# FaceChain keeps parsing instances scoring above this.
FACECHAIN_MIN_SCORE = 0.8


class M2fpHeadSegmenter(SeedBackend):
    """`damo/cv_resnet101_image-multiple-human-parsing` (M2FP, ResNet-101) on the 512² crop.

    FaceChain's rule (`get_mask_head`): the largest Face, Hair and Human
    instances scoring > `min_score`; head = (hair + face) dilated by a kernel
    of sqrt(face area) / 20 px, inside the person; its largest outer contour
    filled, plus the face. No face or no person found: the photo is rejected.
    """

    MODEL_ID = "damo/cv_resnet101_image-multiple-human-parsing"
    REVISION = "v1.0.1"
    TASK = "image-segmentation"
    FILES = (CONFIGURATION, "pytorch_model.pt")
    LICENCE = "CC BY-NC 4.0 (M2FP code; non-commercial use only)"

    def __init__(self, *, min_score: float = FACECHAIN_MIN_SCORE, feather: float = 0.0, model_id: str | None = None,
                 revision: str | None = None, model_dir: str | None = None, trust_pickle: bool = False,
                 device: str = "gpu") -> None:
        from components.seed.mmcv_msda import install

        if not 0.0 <= float(min_score) < 1.0:
            raise ValueError(f"min_score must be in [0, 1), got {min_score!r}")
        if not 0.0 <= float(feather) <= 32:
            raise ValueError(f"feather must be in [0, 32] px, got {feather!r}")
        self.min_score = float(min_score)
        self.feather = float(feather)
        install()
        self._pipe = self._load(model_id=model_id, revision=revision, model_dir=model_dir,
                                trust_pickle=trust_pickle, device=device)

    def segment(self, image: np.ndarray, landmarks68: np.ndarray) -> Segmentation:
        """`landmarks68` is unused: M2FP finds the face itself."""
        check_rgb(image)
        result = self._pipe(Image.fromarray(image))
        mask = head_mask(result["masks"], result["labels"], result["scores"], self.min_score)
        if self.feather > 0:
            mask = cv2.GaussianBlur(mask, (0, 0), self.feather)
        return Segmentation(mask=mask, image=composite_on_white(image, mask))


def head_mask(masks, labels, scores, min_score: float) -> np.ndarray:
    """HxW uint8 (255 = head) from M2FP's instances, FaceChain's `get_mask_head` rule."""
    best = {label: _largest(masks, labels, scores, label, min_score) for label in ("Face", "Hair", "Human")}
    if best["Face"] is None:
        raise Rejected(f"M2FP found no face scoring above {min_score:g}")
    if best["Human"] is None:
        raise Rejected(f"M2FP found no person scoring above {min_score:g}")
    face = best["Face"]
    hair = best["Hair"] if best["Hair"] is not None else np.zeros_like(face)
    head = np.clip(hair + face, 0, 1)
    size = max(int(np.sqrt(face.sum()) / 20), 1)
    head = cv2.dilate(head, np.ones((size, size), np.uint8), iterations=1) * best["Human"]
    contours, _ = cv2.findContours(head.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(face.shape, np.uint8)
    if contours:
        cv2.fillPoly(filled, [max(contours, key=cv2.contourArea)], 1)
    return (np.maximum(filled, face) * 255).astype(np.uint8)


def _largest(masks, labels, scores, label: str, min_score: float) -> np.ndarray | None:
    found = [np.asarray(m) > 0.5 for m, lab, s in zip(masks, labels, scores) if lab == label and s > min_score]
    if not found:
        return None
    return max(found, key=lambda m: int(m.sum())).astype(np.uint8)
