"""The typed parameters of the flows: one pydantic model per flow, no literals elsewhere."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasks.choices import DetectChoice, OrientChoice, QualityChoice, SegmentChoice, TagChoice
from tasks.config import (
    AdapterTrainConfig,
    AlignConfig,
    BaseModelConfig,
    CropConfig,
    EmbedConfig,
    LoadConfig,
    QualityConfig,
    RetouchConfig,
    SegmentConfig,
    StyleTrainConfig,
    TagConfig,
    YuNetDetectConfig,
    YuNetOrientConfig,
)
from tasks.gpu import GpuConfig

# A profile picks a backend for several stages at once; settings given explicitly win.
# `facechain`: the seed's own models (components/seed), each with FaceChain's settings as its defaults.
PROFILES: dict[str, dict[str, str]] = {
    "default": {},
    "facechain": {"orient": "rot-bgr", "segment": "m2fp", "tag": "fairface", "quality": "flcm", "select": "fqa",
                  "rank": "rts"},
}
Profile = Literal["default", "facechain"]


def with_backends(data: Any, stages: list[str], model: type[BaseModel]) -> Any:
    """Before validation: the backend of each stage section of `data` that names none.

    A section left out gets the profile's backend if it names one; a section
    given without `backend` (e.g. {"threshold": 0.5} from a deployment's
    parameters) gets the profile's, else the stage's default one.
    """
    if not isinstance(data, dict):
        return data
    chosen = PROFILES.get(data.get("profile", "default"), {})
    data = {**{s: {"backend": chosen[s]} for s in stages if s in chosen and s not in data}, **data}
    for stage in stages:
        section = data.get(stage)
        if isinstance(section, dict) and "backend" not in section:
            default = chosen.get(stage) or model.model_fields[stage].default.backend
            data[stage] = {"backend": default, **section}
    return data


class CurationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(16, ge=1, le=10_000, description="photos per task run")
    workers: int = Field(2, ge=1, le=256, description="batches processed at once")
    runner: Literal["threads", "processes", "dask"] = "threads"
    dask_address: str | None = Field(None, description="an existing Dask scheduler; None = local cluster")
    dataset: str | None = Field(None, description="where the dataset parts go: a path or fsspec URL; None = OUT/faces")
    identity_threshold: float = Field(0.6, gt=0, le=2,
                                      description="embedding distance under which photos are one person (dlib: 0.6)")
    single_identity: bool = Field(False, description="all photos show one person: one trigger word by majority")
    progress: bool = True
    profile: Profile = Field("default", description="facechain: the seed's ModelScope models for every stage")
    load: LoadConfig = LoadConfig()
    # YuNet proposals confirmed by HOG: 2-8x less CPU than HOG alone, same fidelity on the manifest
    # photos (bench/detectors.py, README "Face detection backends"); the vote's detection is the detection.
    orient: OrientChoice = YuNetOrientConfig()
    detect: DetectChoice = YuNetDetectConfig()
    align: AlignConfig = AlignConfig()
    crop: CropConfig = CropConfig()
    segment: SegmentChoice = SegmentConfig()
    retouch: RetouchConfig = RetouchConfig()
    tag: TagChoice = TagConfig()
    quality: QualityChoice = QualityConfig()
    embed: EmbedConfig = EmbedConfig()

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        from tasks.catalog import job_stage_names

        return with_backends(data, job_stage_names("curation"), cls)


class TrainingFlowConfig(BaseModel):
    """What a training flow (train-adapter, train-style) takes besides its trainer's settings."""

    model_config = ConfigDict(extra="forbid")

    base: BaseModelConfig = BaseModelConfig()
    gpu: GpuConfig = GpuConfig()


class AdapterFlowConfig(TrainingFlowConfig):
    """Training a face adapter (`python -m flows train-adapter`)."""

    train: AdapterTrainConfig = AdapterTrainConfig()


class StyleTrainingConfig(TrainingFlowConfig):
    """Training a style LoRA from pictures (`python -m flows train-style`)."""

    train: StyleTrainConfig = StyleTrainConfig()
    load: LoadConfig = LoadConfig()


def curation_values(config: CurationConfig) -> dict:
    """The configuration values the curation stages read, by the names the catalogue gives them."""
    from tasks.catalog import CURATION_STAGES

    return {**{stage.name: getattr(config, stage.name) for stage in CURATION_STAGES}, "load": config.load}
