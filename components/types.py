"""Typed results of each stage. Arrays are numpy, images are HxWx3 uint8 RGB."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class PhotoError(ValueError):
    """A photo could not be read or processed; the message is the user-facing reason."""


class Rejected(ValueError):
    """A rule said no to a photo; the message is the user-facing reason."""


@dataclass(frozen=True)
class DecodedPhoto:
    image: np.ndarray  # HxWx3 uint8 RGB, EXIF orientation applied
    exif_orientation: int  # 1..8 as found in the file (1 when absent)
    original_size: tuple[int, int]  # (width, height) as stored in the file
    scale: float  # working copy size / original size (<= 1)
    format: str


@dataclass(frozen=True)
class Face:
    bbox: np.ndarray  # (4,) float x0, y0, x1, y1
    landmarks: np.ndarray  # (5, 2) float, dlib 5-point order
    score: float

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def area(self) -> float:
        return float((self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1]))


@dataclass(frozen=True)
class Orientation:
    rotation: int  # degrees counter-clockwise applied to the upright photo: 0/90/180/270
    scores: dict[int, float]  # best face score seen at each rotation tried


@dataclass(frozen=True)
class UprightFaces:
    """The orientation vote's result together with the faces it found at the chosen rotation."""

    orientation: Orientation
    faces: list[Face]  # sorted by area, largest first, in the coordinates of the photo turned by `rotation`


@dataclass(frozen=True)
class Alignment:
    roll: float  # degrees the photo was rotated (counter-clockwise) to level the eyes
    face: Face  # the face re-detected in the levelled frame
    matrix: np.ndarray  # (2, 3) affine from oriented photo to levelled frame
    size: tuple[int, int]  # (width, height) of the levelled frame


@dataclass(frozen=True)
class Crop:
    image: np.ndarray  # SxSx3 uint8
    matrix: np.ndarray  # (2, 3) affine from oriented photo to crop
    landmarks: np.ndarray  # (5, 2) in crop coordinates
    bbox: np.ndarray  # (4,) in crop coordinates
    outside_fraction: float  # share of the crop that lay outside the photo


@dataclass(frozen=True)
class Segmentation:
    mask: np.ndarray  # SxS uint8, 255 = head (face + hair)
    image: np.ndarray  # SxSx3 uint8, background set to white


@dataclass(frozen=True)
class Tags:
    gender: str  # "male" / "female"
    age: int
    trigger_word: str
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Quality:
    score: float  # [0, 1]
    parts: dict[str, float]  # each measured property in [0, 1]


@dataclass(frozen=True)
class Fusion:
    image: np.ndarray | None  # fused image, None when the target had no usable face
    reason: str  # "" when fused, else why not


@dataclass(frozen=True)
class RankScore:
    score: float  # similarity to the identity, higher is better; nan when dropped
    faces: int  # faces detected in the image
    reason: str  # "" when kept, else why the image was dropped


@dataclass(frozen=True)
class TrainingExample:
    image: np.ndarray  # SxSx3 uint8 curated crop (white background)
    bbox: np.ndarray  # (4,) face box in `image` coordinates
    caption: str


@dataclass(frozen=True)
class LoraWeights:
    state_dict: dict  # UNet LoRA tensors in diffusers format, ready for save_lora_weights
    rank: int
    alpha: int
    steps: int
    losses: list[float]
    # text encoder attribute ("text_encoder", "text_encoder_2") -> its LoRA tensors, when trained
    text_encoder_state_dicts: dict = field(default_factory=dict)
    family: str = "sd15"  # components.diffusion.family name; Family.save_lora writes the file


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str
    seeds: list[int]
    steps: int
    guidance: float
    width: int
    height: int
    sampler: str
    face_weight: float
    style_weight: float
    batch_size: int = 1


class NoPersonFound(PhotoError):
    """The pose estimator found no person in the photo; the message says which photo and why."""


@dataclass(frozen=True)
class BodyPose:
    keypoints: np.ndarray  # (18, 2) float, OpenPose joint order (components.openpose.JOINTS), image pixels
    scores: np.ndarray  # (18,) float in [0, 1]; 0 where the joint is absent
    min_score: float = 0.3  # joints scoring lower count as absent

    @property
    def present(self) -> np.ndarray:
        """(18,) bool: the joint was seen, with a finite position."""
        return (self.scores >= self.min_score) & np.isfinite(self.keypoints).all(axis=1)

    def scaled(self, matrix: np.ndarray) -> BodyPose:
        """The same pose under a (2, 3) affine map (e.g. into a crop)."""
        moved = self.keypoints @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]
        return BodyPose(keypoints=moved, scores=self.scores, min_score=self.min_score)


@dataclass(frozen=True)
class FaceTarget:
    """A replaced face of a template result, judged against its own person."""

    number: int  # the template's face number (1-based, left to right)
    bbox: np.ndarray  # (4,) where the face is in the result (the template face's box)
    person: np.ndarray  # (K, D) identity embeddings of the person put there
    template_embedding: np.ndarray | None = None  # the person's selected photo, when weighted in


@dataclass(frozen=True)
class TemplateCandidate:
    """A curated photo that could be the template face."""

    image: np.ndarray  # the curated crop, HxWx3 uint8
    bbox: np.ndarray  # (4,) face box in the crop
    landmarks68: np.ndarray  # (68, 2) in the crop
    face_width: float  # in the original photo's pixels
    detection_score: float
    quality: float  # the curation stage's score
