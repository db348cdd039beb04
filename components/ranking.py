"""Rank generated images by how much their face looks like the identity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from components.embedding import cosine_similarity
from components.protocols import Detector, Embedder
from components.types import Face, RankScore


class EmbeddingRanker:
    """FaceChain's post-processing: keep images with exactly one usable face,
    score it by cosine similarity to the template and to the user's photos.

    score = template_weight * cos(face, template)
          + (1 - template_weight) * cos(face, mean of user embeddings)
    (template only when there are no user embeddings).
    """

    def __init__(self, *, detector: Detector, embedder: Embedder, min_face_px: float = 64.0,
                 template_weight: float = 0.5) -> None:
        if not float(min_face_px) > 0:
            raise ValueError(f"min_face_px must be > 0, got {min_face_px!r}")
        if not 0.0 <= float(template_weight) <= 1.0:
            raise ValueError(f"template_weight must be in [0, 1], got {template_weight!r}")
        self.detector = detector
        self.embedder = embedder
        self.min_face_px = float(min_face_px)
        self.template_weight = float(template_weight)

    def score(self, images: list[np.ndarray], template_embedding: np.ndarray, user_embeddings: np.ndarray,
              *, template_image: np.ndarray | None = None, user_images: Sequence[np.ndarray] = ()) -> list[RankScore]:
        """`template_image`/`user_images` (the curated crops) are for rankers with their own embedding; unused here."""
        template = np.asarray(template_embedding, np.float64).reshape(-1)
        users = np.asarray(user_embeddings, np.float64)
        # Mean of the user's embeddings: one identity centre, robust to one odd photo.
        user_centre = users.reshape(-1, template.size).mean(axis=0) if users.size else None
        return [self._score_one(image, template, user_centre) for image in images]

    def _score_one(self, image: np.ndarray, template: np.ndarray, user_centre: np.ndarray | None) -> RankScore:
        face, dropped = usable_face(self.detector, image, self.min_face_px)
        if dropped is not None:
            return dropped
        embedding = self.embedder.embed(image, face.bbox)
        return RankScore(score=identity_score(embedding, template, user_centre, self.template_weight), faces=1,
                         reason="")


def usable_face(detector: Detector, image: np.ndarray, min_face_px: float) -> tuple[Face | None, RankScore | None]:
    """FaceChain's rule for a generated image: exactly one face, large enough; else why it is dropped."""
    faces = detector.detect(image)
    if not faces:
        return None, RankScore(score=math.nan, faces=0, reason="no face detected")
    if len(faces) > 1:
        return None, RankScore(score=math.nan, faces=len(faces), reason=f"{len(faces)} faces detected")
    if faces[0].width < min_face_px:
        return None, RankScore(score=math.nan, faces=1, reason=f"face too small: {faces[0].width:.0f} px")
    return faces[0], None


def identity_score(embedding: np.ndarray, template: np.ndarray, user_centre: np.ndarray | None,
                   template_weight: float) -> float:
    """Cosine to the template, blended with cosine to the user's centre when there is one."""
    score = cosine_similarity(embedding, template)
    if user_centre is not None:
        score = template_weight * score + (1 - template_weight) * cosine_similarity(embedding, user_centre)
    return float(score)


def top_k(scores: list[RankScore], k: int) -> list[int]:
    """Indices of kept images, best score first (ties keep input order), at most `k`."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    kept = [i for i, s in enumerate(scores) if not s.reason and not math.isnan(s.score)]
    return sorted(kept, key=lambda i: -scores[i].score)[:k]
