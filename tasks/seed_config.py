"""Configurations of the seed's ModelScope backends (components/seed), one per backend.

Each names where its model comes from: the ModelScope cache by `model_id`
(None: the id FaceChain uses) and `revision`, or a local `model_dir`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tasks.config import RankConfig, StageConfig


class SeedModelLocation(StageConfig):
    model_id: str | None = Field(None, description="ModelScope id; None = the one FaceChain uses")
    revision: str | None = Field(None, description="None = the revision FaceChain pins")
    model_dir: str | None = Field(None, description="a local model folder instead of the cache")

    def content_files(self) -> list[str]:
        """A local folder is keyed by what it holds; a cached id by its id and revision."""
        return [self.model_dir] if self.model_dir else []


class SeedTorchModel(SeedModelLocation):
    trust_pickle: bool = Field(False, description="allow a checkpoint that needs a full unpickle")
    device: Literal["gpu", "cpu"] = Field("gpu", description="modelscope's device; gpu falls back to the CPU")


class RotBgrOrientConfig(SeedModelLocation):
    """FaceChain's 4-way rotation classifier (ONNX)."""

    backend: Literal["rot-bgr"] = "rot-bgr"
    min_score: float = Field(0.0, ge=0, le=1, description="a turn needs this probability, else the photo stays")


class M2fpSegmentConfig(SeedTorchModel):
    """M2FP human parsing, head = face + hair (CC BY-NC 4.0: non-commercial)."""

    backend: Literal["m2fp"] = "m2fp"
    min_score: float = Field(0.8, ge=0, lt=1, description="FaceChain's instance score threshold")
    feather: float = Field(0.0, ge=0, le=32)


class FairFaceTagConfig(SeedTorchModel):
    """FairFace gender and age bin -> the paper's trigger word."""

    backend: Literal["fairface"] = "fairface"


class FlcmQualityConfig(SeedTorchModel):
    """FaceChain's curation filter: facial-landmark confidence."""

    backend: Literal["flcm"] = "flcm"
    threshold: float = Field(0.855, ge=0, le=1, description="FaceChain's: photos scoring lower are rejected")


class FqaQualityConfig(SeedTorchModel):
    """Face quality assessment as the quality score (FaceChain never filters with it: threshold 0)."""

    backend: Literal["fqa"] = "fqa"
    threshold: float = Field(0.0, ge=0, le=1)


class RtsRankConfig(SeedTorchModel, RankConfig):
    """RTS identity embedding (512-d) and its OOD score as an extra filter; the ranking options are the
    embedded ranker's (a backend switch keeps the job's `keep`: tasks.choices.with_settings)."""

    backend: Literal["rts"] = "rts"
    min_ood_score: float = Field(0.0, ge=0, description="faces whose RTS OOD score is lower are dropped; 0 = off")


class FqaSelectConfig(SeedTorchModel):
    """FaceChain's template choice: the curated crop FQA scores highest."""

    backend: Literal["fqa"] = "fqa"
