"""Rank generated images by how much their face looks like the identity."""

from __future__ import annotations

import math

import numpy as np

from components.embedding import cosine_similarity
from components.protocols import Detector, Embedder
from components.types import RankScore


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

    def score(self, images: list[np.ndarray], template_embedding: np.ndarray,
              user_embeddings: np.ndarray) -> list[RankScore]:
        template = np.asarray(template_embedding, np.float64).reshape(-1)
        users = np.asarray(user_embeddings, np.float64)
        # Mean of the user's embeddings: one identity centre, robust to one odd photo.
        user_centre = users.reshape(-1, template.size).mean(axis=0) if users.size else None
        return [self._score_one(image, template, user_centre) for image in images]

    def _score_one(self, image: np.ndarray, template: np.ndarray, user_centre: np.ndarray | None) -> RankScore:
        faces = self.detector.detect(image)
        if not faces:
            return RankScore(score=math.nan, faces=0, reason="no face detected")
        if len(faces) > 1:
            return RankScore(score=math.nan, faces=len(faces), reason=f"{len(faces)} faces detected")
        face = faces[0]
        if face.width < self.min_face_px:
            return RankScore(score=math.nan, faces=1, reason=f"face too small: {face.width:.0f} px")
        embedding = self.embedder.embed(image, face.bbox)
        score = cosine_similarity(embedding, template)
        if user_centre is not None:
            user_score = cosine_similarity(embedding, user_centre)
            score = self.template_weight * score + (1 - self.template_weight) * user_score
        return RankScore(score=float(score), faces=1, reason="")


def top_k(scores: list[RankScore], k: int) -> list[int]:
    """Indices of kept images, best score first (ties keep input order), at most `k`."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    kept = [i for i, s in enumerate(scores) if not s.reason and not math.isnan(s.score)]
    return sorted(kept, key=lambda i: -scores[i].score)[:k]
