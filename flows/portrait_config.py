"""The typed parameters of a portrait job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.validation import safe_name
from flows.config import CurationConfig, Profile, curation_values, with_backends
from tasks.choices import RankChoice, SelectChoice
from tasks.config import (
    BaseModelConfig,
    FastConfig,
    FuseConfig,
    GenerateConfig,
    MemoryConfig,
    RankConfig,
    SelectConfig,
    TrainConfig,
    TrainFreeConfig,
)
from tasks.gpu import GpuConfig

MAX_STEPS_PER_PHOTO, MAX_STEPS = 200, 800  # FaceChain: steps = min(200 x photos, 800)
# The shipped style library, wherever the command is run from.
DEFAULT_STYLES_DIR = str(Path(__file__).resolve().parents[1] / "data" / "styles")


class PortraitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    style: str
    job: str | None = Field(None, description="a job name: the job folder is OUT/<user>/<job> (default OUT/<user>)")
    mode: Literal["train", "train-free"] = "train"
    train_free: TrainFreeConfig | None = Field(None, description="the adapter to use in train-free mode")
    style_lora: str | None = Field(None, description="the user's own style LoRA (.safetensors)")
    styles_dir: str = DEFAULT_STYLES_DIR
    min_photos: int = Field(1, ge=1, description="fewer usable photos than this: warn (or fail, see below)")
    fail_below_min_photos: bool = False
    profile: Profile = Field("default", description="facechain: the seed's ModelScope models for every stage")
    curation: CurationConfig = CurationConfig(single_identity=True)
    base: BaseModelConfig = BaseModelConfig()
    train: TrainConfig = TrainConfig()
    train_steps: int | None = Field(None, ge=1, le=100_000, description="None = min(200 x photos, 800)")
    generate: GenerateConfig = GenerateConfig()
    fast: FastConfig | None = Field(None, description="fast sampling: an LCM / TCD / Hyper-SD / Lightning LoRA")
    memory: MemoryConfig = MemoryConfig()
    select: SelectChoice = SelectConfig()
    fuse: FuseConfig = FuseConfig()
    rank: RankChoice = RankConfig()
    gpu: GpuConfig = GpuConfig()

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        """The profile picks the portrait stages' backends and is passed on to curation."""
        from tasks.catalog import PORTRAIT_STAGES

        data = with_backends(data, [s.name for s in PORTRAIT_STAGES if s.config_name in cls.model_fields], cls)
        if isinstance(data, dict) and data.get("profile", "default") != "default":
            curation = data.get("curation", {"single_identity": True})
            if isinstance(curation, CurationConfig):  # what was set explicitly, the rest from the profile
                curation = {name: getattr(curation, name) for name in curation.model_fields_set}
            data = {**data, "curation": {"profile": data["profile"], **curation}}
        return data

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

    def job_dir(self, out: str | Path) -> Path:
        """OUT/<user>[/<job>], never outside OUT (the names are checked above)."""
        return Path(out).resolve().joinpath(self.user, *([self.job] if self.job else []))


def resolve_style(config: PortraitConfig):
    """The job's style from its library, with the user's own style LoRA if given; unknown -> ValueError."""
    from tasks.styles import load_style_library, style_from_lora_file

    styles = load_style_library(config.styles_dir)
    if config.style not in styles:
        raise ValueError(f"unknown style {config.style!r}; available: {', '.join(sorted(styles))}")
    style = styles[config.style]
    return style_from_lora_file(config.style_lora, style) if config.style_lora else style


def portrait_values(config: PortraitConfig, style, steps: int) -> dict:
    """The configuration values the stages read, by the names the catalogue gives them."""
    from flows.model_checks import with_family

    return {**curation_values(config.curation), "train": config.train.model_copy(update={"steps": steps}),
            "generate": config.generate, "select": config.select, "fuse": config.fuse, "rank": config.rank,
            "base": with_family(config.base), "style": style, "fast": config.fast, "memory": config.memory,
            "train_free": config.train_free, "gpu": config.gpu}


def check_job_inputs(config: PortraitConfig):
    """Everything a job needs that is not a photo, checked before any work: style, base model (its family
    against the style's LoRA, the fast LoRA and the mode), adapter.

    Returns the resolved style.
    """
    from flows.model_checks import check_model_inputs

    style = resolve_style(config)
    check_model_inputs(config.base, style_lora=style.lora, fast=config.fast,
                       face_adapters=config.mode == "train-free")
    if config.train_free is not None and not Path(config.train_free.adapter_file()).is_file():
        raise FileNotFoundError(f"no trained adapter at {config.train_free.adapter_file()}: "
                                "run `python -m flows train-adapter` first")
    return style
