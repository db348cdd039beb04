"""Rank generated images by how much their face looks like the identity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from components.embedding import cosine_similarity
from components.protocols import Detector, Embedder
from components.types import Face, FaceTarget, RankScore


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


class ReplacedFaceRanking:
    """Template modes: each replaced face is found by its place (the detected face overlapping
    the template face's box most, IoU >= `min_overlap`) and scored against its own person;
    the other faces of a group photo are ignored. An image scores as its weakest replaced face."""

    def __init__(self, ranker: EmbeddingRanker, min_overlap: float = 0.3) -> None:
        if not 0.0 < float(min_overlap) <= 1.0:
            raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap!r}")
        self.ranker, self.min_overlap = ranker, float(min_overlap)

    def score(self, images: list[np.ndarray], targets: list[FaceTarget]) -> list[RankScore]:
        if not targets:
            raise ValueError("no replaced face to judge")
        return [self._score_one(image, targets) for image in images]

    def _score_one(self, image: np.ndarray, targets: list[FaceTarget]) -> RankScore:
        faces = self.ranker.detector.detect(image)
        scores = []
        for target in targets:
            face = _at_place(faces, target.bbox, self.min_overlap)
            if face is None:
                return RankScore(score=math.nan, faces=len(faces), reason=f"face {target.number} not found")
            if face.width < self.ranker.min_face_px:
                return RankScore(score=math.nan, faces=len(faces),
                                 reason=f"face {target.number} too small: {face.width:.0f} px")
            embedding = self.ranker.embedder.embed(image, face.bbox)
            scores.append(self._similarity(embedding, target))
        return RankScore(score=float(min(scores)), faces=len(faces), reason="")

    def _similarity(self, embedding: np.ndarray, target: FaceTarget) -> float:
        person = np.asarray(target.person, np.float64)
        centre = person.reshape(-1, person.shape[-1]).mean(axis=0)
        if target.template_embedding is None:
            return float(cosine_similarity(embedding, centre))
        return identity_score(embedding, target.template_embedding, centre, self.ranker.template_weight)


def _at_place(faces: list[Face], bbox: np.ndarray, min_overlap: float) -> Face | None:
    overlaps = [box_iou(face.bbox, bbox) for face in faces]
    if not overlaps or max(overlaps) < min_overlap:
        return None
    return faces[int(np.argmax(overlaps))]


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    ax0, ay0, ax1, ay1 = (float(v) for v in a)
    bx0, by0, bx1, by1 = (float(v) for v in b)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def top_k(scores: list[RankScore], k: int) -> list[int]:
    """Indices of kept images, best score first (ties keep input order), at most `k`."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    kept = [i for i, s in enumerate(scores) if not s.reason and not math.isnan(s.score)]
    return sorted(kept, key=lambda i: -scores[i].score)[:k]
