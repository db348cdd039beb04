"""One Protocol per stage. A backend is any class that satisfies one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from components.types import (
    Alignment,
    BodyPose,
    Crop,
    Face,
    Fusion,
    GenerationRequest,
    LoraWeights,
    Orientation,
    Quality,
    RankScore,
    Segmentation,
    Tags,
    TemplateCandidate,
    TrainingExample,
    UprightFaces,
)


@runtime_checkable
class Orienter(Protocol):
    def orient(self, image: np.ndarray) -> Orientation: ...


@runtime_checkable
class UprightFinder(Orienter, Protocol):
    """An orienter whose vote detects faces: its winning detection is the detection."""

    def find(self, image: np.ndarray) -> UprightFaces: ...


@runtime_checkable
class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces sorted by area, largest first, in `image` coordinates."""


@runtime_checkable
class TurnedDetector(Detector, Protocol):
    def detect_rotated(self, image: np.ndarray, rotation: int) -> list[Face]:
        """The faces of `image` turned by `rotation` degrees, in the turned photo's coordinates,
        found as an `UprightFinder` finds them (the photo itself need not be turned)."""


@runtime_checkable
class Aligner(Protocol):
    def align(self, image: np.ndarray, face: Face) -> Alignment: ...


@runtime_checkable
class Cropper(Protocol):
    def crop(self, image: np.ndarray, alignment: Alignment) -> Crop: ...


@runtime_checkable
class Landmarker(Protocol):
    def landmarks68(self, image: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        """(68, 2) float points of the face inside `bbox`."""


@runtime_checkable
class Segmenter(Protocol):
    def segment(self, image: np.ndarray, landmarks68: np.ndarray) -> Segmentation: ...


@runtime_checkable
class Retoucher(Protocol):
    def retouch(self, image: np.ndarray, landmarks68: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Tagger(Protocol):
    def tag(self, image: np.ndarray, bbox: np.ndarray, landmarks68: np.ndarray) -> Tags: ...


@runtime_checkable
class QualityScorer(Protocol):
    def score(
        self, image: np.ndarray, landmarks68: np.ndarray, face_width: float, detection_score: float,
        *, bbox: np.ndarray | None = None,
    ) -> Quality:
        """`face_width` is the face's width in pixels of the original photo; `bbox` the face box in
        `image` (models that score a face box, FLCM and FQA, need it)."""

    def weakest(self, parts: dict[str, float]) -> str:
        """The part to blame in a rejection reason."""


@runtime_checkable
class Embedder(Protocol):
    def embed(self, image: np.ndarray, bbox: np.ndarray) -> np.ndarray:
        """Identity embedding of the face inside `bbox` (compare by cosine or L2)."""


@runtime_checkable
class PoseEstimator(Protocol):
    def estimate(self, image: np.ndarray) -> BodyPose:
        """The most prominent person's 18 OpenPose joints; `NoPersonFound` when there is none."""


@runtime_checkable
class PoseGenerator(Protocol):
    def generate(self, identity, request: GenerationRequest, pose_map: np.ndarray, scale: float) -> list[np.ndarray]:
        """One image per seed of `request`, in the pose of `pose_map` (OpenPose RGB), the identity's face."""


@runtime_checkable
class Fuser(Protocol):
    def fuse(self, template: np.ndarray, target: np.ndarray) -> Fusion:
        """Put the template's face onto the face found in `target`."""


@runtime_checkable
class TemplateScorer(Protocol):
    def scores(self, candidates: Sequence[TemplateCandidate]) -> list[float]:
        """One score per candidate; the highest is the template face."""


@runtime_checkable
class Ranker(Protocol):
    def score(
        self, images: list[np.ndarray], template_embedding: np.ndarray, user_embeddings: np.ndarray,
        *, template_image: np.ndarray | None = None, user_images: Sequence[np.ndarray] = (),
    ) -> list[RankScore]:
        """Embeddings come from the embed stage; a ranker with its own face model (RTS) embeds
        `template_image` and `user_images` (the curated crops) itself instead."""


@runtime_checkable
class CheckpointStore(Protocol):
    """Where a trainer keeps resumable state; the task side implements it with files."""

    def latest(self) -> tuple[int, bytes] | None: ...

    def save(self, step: int, payload: bytes) -> None: ...


@runtime_checkable
class Trainer(Protocol):
    def train(
        self,
        examples: list[TrainingExample],
        checkpoints: CheckpointStore | None = None,
        progress: Callable[[int, int, float], None] | None = None,
    ) -> LoraWeights: ...


@runtime_checkable
class Generator(Protocol):
    def generate(
        self, request: GenerationRequest, face_lora: dict | None, style_lora: dict | None = None,
        style_loras: Mapping[str, dict] | None = None,
    ) -> list[np.ndarray]:
        """`style_loras`: state dicts by adapter name, weighted by `request.style_loras`."""
