"""The typed parameters of a portrait job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.validation import safe_name
from flows.config import CurationConfig, Profile, curation_values, with_backends
from tasks.catalog import KINDS, POSE, STYLE, TEMPLATE, TRAIN
from tasks.choices import RankChoice, SelectChoice
from tasks.config import (
    BaseModelConfig,
    ControlNetConfig,
    FastConfig,
    FuseConfig,
    GenerateConfig,
    InpaintConfig,
    MemoryConfig,
    PasteConfig,
    PoseGenerateConfig,
    PoseMapConfig,
    RankConfig,
    SelectConfig,
    TemplateConfig,
    TemplateCropConfig,
    TrainConfig,
    TrainFreeConfig,
)
from tasks.gpu import GpuConfig

SD15 = "sd15"  # the family the template and pose modes' ControlNets are made for
MAX_STEPS_PER_PHOTO, MAX_STEPS = 200, 800  # FaceChain: steps = min(200 x photos, 800)
# The shipped style library, wherever the command is run from.
DEFAULT_STYLES_DIR = str(Path(__file__).resolve().parents[1] / "data" / "styles")


class PortraitConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    style: str
    job: str | None = Field(None, description="a job name: the job folder is OUT/<user>/<job> (default OUT/<user>)")
    mode: Literal["train", "train-free"] = "train"
    kind: Literal[KINDS] = Field(STYLE, description="style: infinite style; template: faces put into a template "
                                 "photo; pose: in the pose of a reference photo")
    template: TemplateConfig | None = Field(None, description="template jobs: the photo and its face detector")
    persons: dict[int, list[str]] = Field(default_factory=dict, description="template jobs: face number -> "
                                          "photos (files or folders) or one earlier job folder; [] = the "
                                          "photos the job is given")
    pose_map: PoseMapConfig | None = Field(None, description="pose jobs: the pose photo (or ready map)")
    template_crop: TemplateCropConfig = TemplateCropConfig()
    controlnets: ControlNetConfig = ControlNetConfig()
    pose_generate: PoseGenerateConfig = PoseGenerateConfig()
    inpaint: InpaintConfig = InpaintConfig()
    paste: PasteConfig = PasteConfig()
    train_free: TrainFreeConfig | None = Field(None, description="the adapter to use in train-free mode")
    style_lora: list[str] = Field(default_factory=list, max_length=16, description=(
        "LoRAs added to the style: FILE or a cached hub id owner/name, each [,weight=W][,revision=R][,file=F]"))
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

        sections = [s.name for s in PORTRAIT_STAGES  # optional sections (a template job's `template`) have no default
                    if s.config_name in cls.model_fields and cls.model_fields[s.config_name].default is not None]
        data = with_backends(data, sections, cls)
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

    @field_validator("style_lora", mode="before")
    @classmethod
    def _one_or_more_loras(cls, value):
        """A job recorded when this took one LoRA (a string, or null) reads as a list."""
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

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

    @model_validator(mode="after")
    def _inputs_match_the_kind(self) -> "PortraitConfig":
        if (self.kind == TEMPLATE) != (self.template is not None and bool(self.template.image)):
            raise ValueError("a template job needs a template photo (--template), and only a template job takes one")
        if (self.kind == TEMPLATE) != bool(self.persons):
            raise ValueError("a template job needs at least one person (photos for --face N, or --person N=...), "
                             "and only a template job takes persons")
        if (self.kind == POSE) != (self.pose_map is not None and bool(self.pose_map.image)):
            raise ValueError("a pose job needs a pose photo or map (--pose / --pose-map), and only a pose job takes one")
        if any(face < 1 for face in self.persons):
            raise ValueError(f"persons: face numbers start at 1, got {sorted(self.persons)}")
        return self

    @model_validator(mode="after")
    def _test_controlnets_with_the_test_base(self) -> "PortraitConfig":
        """The tiny test base takes the tiny test ControlNets (built from its UNet), and only it does."""
        defaults = ControlNetConfig()
        specs = (self.controlnets.openpose, self.controlnets.canny)
        if self.base.is_test_model and specs == (defaults.openpose, defaults.canny):
            self.controlnets = self.controlnets.model_copy(update={"openpose": "tiny", "canny": "tiny"})
        elif self.base.is_test_model != (self.controlnets.openpose == "tiny") or \
                self.base.is_test_model != (self.controlnets.canny == "tiny"):
            raise ValueError("the tiny test base model takes the tiny test ControlNets and no other; "
                             f"got base {self.base.spec!r} with ControlNets {specs}")
        return self

    @property
    def faces(self) -> tuple[int, ...]:
        return tuple(sorted(self.persons))

    def steps_for(self, photos: int) -> int:
        return self.train_steps or min(MAX_STEPS_PER_PHOTO * photos, MAX_STEPS)

    def job_dir(self, out: str | Path) -> Path:
        """OUT/<user>[/<job>], never outside OUT (the names are checked above)."""
        return Path(out).resolve().joinpath(self.user, *([self.job] if self.job else []))


def resolve_style(config: PortraitConfig):
    """The job's style from its library with its `--style-lora` values, every LoRA found on this machine.

    A `JobStyle` (tasks/job_style.py): keyed by its LoRAs' content and weights.
    Unknown style, missing / pickle / wrong-format LoRA: an error here, before any work.
    """
    from tasks.job_style import lora_targets
    from tasks.styles import resolve_job_style

    return resolve_job_style(config.styles_dir, config.style, config.style_lora,
                             trust_pickle=config.base.trust_pickle, targets=lora_targets(config.base))


def portrait_values(config: PortraitConfig, style, steps: int = 0) -> dict:
    """The configuration values the stages read, by the names the catalogue gives them.

    `steps`: the training steps of the job's one person (see `person_values` for each person's)."""
    from flows.model_checks import with_family

    return {**curation_values(config.curation), "train": config.train.model_copy(update={"steps": steps}),
            "generate": config.generate, "select": config.select, "fuse": config.fuse, "rank": config.rank,
            "base": with_family(config.base), "style": style, "fast": config.fast, "memory": config.memory,
            "train_free": config.train_free, "gpu": config.gpu, "template": config.template,
            "template_crop": config.template_crop, "faces": config.faces, "pose_map": config.pose_map,
            "controlnets": config.controlnets, "pose_generate": config.pose_generate, "inpaint": config.inpaint,
            "paste": config.paste}


def person_values(config: PortraitConfig, usable: int) -> dict:
    """The values that depend on the person: training steps from the number of usable photos."""
    steps = config.steps_for(usable) if config.mode == TRAIN else 0
    return {"train": config.train.model_copy(update={"steps": steps})}


def chain_people(config: PortraitConfig, usable: dict[int | None, int]) -> tuple[dict, dict[int, dict]]:
    """(the one person's values, {face: its person's values}) for `portrait_chain`, from the usable
    photos of each person (None: the one person of a style or pose job)."""
    if config.kind == TEMPLATE:
        return {}, {face: person_values(config, n) for face, n in sorted(usable.items()) if face is not None}
    return person_values(config, usable.get(None, 0)), {}


def check_job_inputs(config: PortraitConfig):
    """Everything a job needs that is not a photo, checked before any work: style and its LoRAs, base model
    (its family against the style's LoRAs, the fast LoRA and the mode), adapter.

    Returns the resolved style.
    """
    from flows.model_checks import check_model_inputs

    style = resolve_style(config)
    check_model_inputs(config.base, style_loras=[(lora.label, lora.path) for lora in style.lora_files],
                       fast=config.fast, face_adapters=config.mode == "train-free")
    if config.train_free is not None and not Path(config.train_free.adapter_file()).is_file():
        raise FileNotFoundError(f"no trained adapter at {config.train_free.adapter_file()}: "
                                "run `python -m flows train-adapter` first")
    check_mode_inputs(config)
    return style


def check_mode_inputs(config: PortraitConfig) -> None:
    """The template or pose photo (size, bomb, not an image), the persons, the ControlNets."""
    from components.diffusion.base_model import model_family
    from components.diffusion.controlnet import check_controlnet
    from flows.people import check_person_sources
    from tasks.stages.rank_template import require_embedding_ranker
    from tasks.inputs import read_input_photo

    if config.kind == STYLE:
        return
    family = model_family(config.base.spec, allow_pickle=config.base.trust_pickle)
    if family.name != SD15:
        raise ValueError(f"the template and pose modes use SD 1.5 ControlNets; base model {config.base.spec!r} is "
                         f"{family.label}: use an SD 1.5 base model (or tiny) for them")
    if config.template is not None:
        require_embedding_ranker(config.rank)
        read_input_photo(config.template.image, "template", config.template, config.template.decode_max_side)
        check_person_sources(config.persons, config.mode, config.base.spec)
    if config.pose_map is not None:
        load = config.curation.load
        read_input_photo(config.pose_map.image, "pose map" if config.pose_map.ready else "pose photo", load,
                         load.max_side)
    nets = config.controlnets
    for spec in (nets.openpose, nets.canny) if config.kind == TEMPLATE else (nets.openpose,):
        check_controlnet(spec, allow_pickle=nets.trust_pickle)
