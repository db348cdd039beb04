"""The typed parameters of a portrait job."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.validation import safe_name
from flows.config import CurationConfig
from tasks.config import BaseModelConfig, FuseConfig, GenerateConfig, RankConfig, TrainConfig, TrainFreeConfig
from tasks.gpu import GpuConfig

MAX_STEPS_PER_PHOTO, MAX_STEPS = 200, 800
# The shipped style library, wherever the command is run from.
DEFAULT_STYLES_DIR = str(Path(__file__).resolve().parents[1] / "data" / "styles")  # FaceChain: steps = min(200 x photos, 800)


class PortraitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    job: str | None = Field(None, description="the job's folder under OUT/<user>/ (None: the job is OUT/<user>)")
    style: str
    mode: Literal["train", "train-free"] = "train"
    train_free: TrainFreeConfig | None = Field(None, description="the adapter to use in train-free mode")
    style_lora: str | None = Field(None, description="the user's own style LoRA (.safetensors)")
    styles_dir: str = DEFAULT_STYLES_DIR
    min_photos: int = Field(1, ge=1, description="fewer usable photos than this: warn (or fail, see below)")
    fail_below_min_photos: bool = False
    curation: CurationConfig = CurationConfig(single_identity=True)
    base: BaseModelConfig = BaseModelConfig()
    train: TrainConfig = TrainConfig()
    train_steps: int | None = Field(None, ge=1, le=100_000, description="None = min(200 x photos, 800)")
    generate: GenerateConfig = GenerateConfig()
    fuse: FuseConfig = FuseConfig()
    rank: RankConfig = RankConfig()
    gpu: GpuConfig = GpuConfig()

    @field_validator("user")
    @classmethod
    def _safe_user(cls, value: str) -> str:
        return safe_name(value, "user id")

    @field_validator("job")
    @classmethod
    def _safe_job(cls, value: str | None) -> str | None:
        return None if value is None else safe_name(value, "job id")

    @field_validator("style")
    @classmethod
    def _safe_style(cls, value: str) -> str:
        return safe_name(value, "style name")

    @model_validator(mode="after")
    def _train_free_needs_an_adapter(self) -> "PortraitConfig":
        if self.mode == "train-free" and self.train_free is None:
            raise ValueError("mode train-free needs an adapter (--adapter DIR from `python -m flows train-adapter`)")
        return self

    def steps_for(self, photos: int) -> int:
        return self.train_steps or min(MAX_STEPS_PER_PHOTO * photos, MAX_STEPS)
