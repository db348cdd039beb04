"""rank: RTS face recognition (512-d embedding) with its OOD score as an extra filter."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from components.protocols import Detector, Landmarker
from components.ranking import identity_score, usable_face
from components.seed.faces import run_on_face, with_given_face
from components.seed.hub import CONFIGURATION, SeedBackend
from components.types import Face, RankScore


class RtsRanker(SeedBackend):
    """FaceChain's post-processing with `damo/cv_ir_face-recognition-ood_rts` as the face model.

    Like the embedded ranker: one face per image, large enough, scored by
    template_weight * cos(face, template) + (1 - template_weight) * cos(face, user centre),
    but every embedding is RTS's (512-d, L2-normalised), the template's and
    the user's included, so the ranker takes the curated crops themselves
    (`template_image`, `user_images`) rather than the embed stage's vectors.
    RTS also gives each face an OOD score (higher = more like the in-distribution
    faces it was trained on); faces under `min_ood_score` are dropped. Its
    default 0 keeps all: the real model's threshold cannot be measured here
    (no weights offline) and FaceChain's code ranks by similarity alone.
    """

    MODEL_ID = "damo/cv_ir_face-recognition-ood_rts"
    REVISION = "v2.5"
    TASK = "face-recognition"
    FILES = (CONFIGURATION, "pytorch_model.pt")
    LICENCE = "Apache-2.0 (ModelScope model card)"

    def __init__(self, *, detector: Detector, landmarker: Landmarker, min_face_px: float = 64.0,
                 template_weight: float = 0.5, min_ood_score: float = 0.0, model_id: str | None = None,
                 revision: str | None = None, model_dir: str | None = None, trust_pickle: bool = False,
                 device: str = "gpu") -> None:
        if not float(min_face_px) > 0:
            raise ValueError(f"min_face_px must be > 0, got {min_face_px!r}")
        if not 0.0 <= float(template_weight) <= 1.0:
            raise ValueError(f"template_weight must be in [0, 1], got {template_weight!r}")
        if not math.isfinite(float(min_ood_score)) or float(min_ood_score) < 0:
            raise ValueError(f"min_ood_score must be a finite number >= 0, got {min_ood_score!r}")
        self.detector = detector
        self.landmarker = landmarker
        self.min_face_px = float(min_face_px)
        self.template_weight = float(template_weight)
        self.min_ood_score = float(min_ood_score)
        self._pipe = self._load(model_id=model_id, revision=revision, model_dir=model_dir,
                                trust_pickle=trust_pickle, use_det=False, device=device)
        self._given = with_given_face(self._pipe)

    def embed_face(self, image: np.ndarray, face: Face) -> tuple[np.ndarray, float]:
        """(512,) unit embedding and the OOD score of `face` in `image`."""
        landmarks = self.landmarker.landmarks68(image, face.bbox)
        result = run_on_face(self._pipe, self._given, image, face.bbox, landmarks, face.score)
        if result.get("img_embedding") is None:
            raise ValueError("RTS returned no embedding for the face")
        embedding = np.asarray(result["img_embedding"], dtype=np.float32).reshape(-1)
        return embedding, float(np.ravel(result["scores"])[0])

    def score(self, images: list[np.ndarray], template_embedding: np.ndarray, user_embeddings: np.ndarray,
              *, template_image: np.ndarray | None = None, user_images: Sequence[np.ndarray] = ()) -> list[RankScore]:
        """`template_embedding`/`user_embeddings` (the embed stage's space) are not comparable with RTS's: unused."""
        if template_image is None:
            raise ValueError("RTS ranking embeds the template face itself: pass template_image= (the template crop)")
        template = self._embed_largest(template_image, "template")
        user_vectors = [self._embed_largest(image, "user photo") for image in user_images]
        user_centre = np.mean(user_vectors, axis=0) if user_vectors else None
        return [self._score_one(image, template, user_centre) for image in images]

    def _score_one(self, image: np.ndarray, template: np.ndarray, user_centre: np.ndarray | None) -> RankScore:
        face, dropped = usable_face(self.detector, image, self.min_face_px)
        if dropped is not None:
            return dropped
        embedding, ood = self.embed_face(image, face)
        if ood < self.min_ood_score:
            return RankScore(score=math.nan, faces=1,
                             reason=f"RTS OOD score {ood:.3f} below {self.min_ood_score:.3f}")
        return RankScore(score=identity_score(embedding, template, user_centre, self.template_weight), faces=1,
                         reason="")

    def _embed_largest(self, image: np.ndarray, what: str) -> np.ndarray:
        faces = self.detector.detect(image)
        if not faces:
            raise ValueError(f"RTS ranking: no face found in the {what}")
        return self.embed_face(image, faces[0])[0]
