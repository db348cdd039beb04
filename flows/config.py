"""The typed parameters of the flows: one pydantic model per flow, no literals elsewhere."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.config import (
    AlignConfig,
    CropConfig,
    DetectConfig,
    EmbedConfig,
    LoadConfig,
    OrientConfig,
    QualityConfig,
    RetouchConfig,
    SegmentConfig,
    TagConfig,
    YuNetDetectConfig,
    YuNetOrientConfig,
)


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
    load: LoadConfig = LoadConfig()
    # YuNet proposals confirmed by HOG: 2-8x less CPU than HOG alone, same fidelity on the manifest
    # photos (bench/detectors.py, README "Face detection backends"); the vote's detection is the detection.
    orient: OrientConfig | YuNetOrientConfig = Field(YuNetOrientConfig(), discriminator="backend")
    detect: DetectConfig | YuNetDetectConfig = Field(YuNetDetectConfig(), discriminator="backend")
    align: AlignConfig = AlignConfig()
    crop: CropConfig = CropConfig()
    segment: SegmentConfig = SegmentConfig()
    retouch: RetouchConfig = RetouchConfig()
    tag: TagConfig = TagConfig()
    quality: QualityConfig = QualityConfig()
    embed: EmbedConfig = EmbedConfig()


def curation_values(config: CurationConfig) -> dict:
    """The configuration values the curation stages read, by the names the catalogue gives them."""
    from tasks.catalog import CURATION_STAGES

    return {**{stage.name: getattr(config, stage.name) for stage in CURATION_STAGES}, "load": config.load}
