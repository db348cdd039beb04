"""The stage catalogue: every stage of every job, once.

Stage lists (curation, portrait, re-run, status, `python -m flows stages`),
the settings `--set` may change, the artefact each stage writes and the code
its key depends on all derive from here. Importing this module is cheap (no
Prefect, torch or dlib): `status` plans with it.

A stage reads the artefacts of the stages named in `reads`, takes the
configuration values named in `config` and `params` (part of its key) and
`runtime` (not part of it: where it runs, not what it computes), and writes
one artefact at `output` formatted with its key. Its component comes from the
registry: `registry` is the registry stage, and the `backend` field of the
value `backend_from` (default: its own config) names the backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.config import (
    AdapterTrainConfig,
    AlignConfig,
    CropConfig,
    EmbedConfig,
    FuseConfig,
    GenerateConfig,
    QualityConfig,
    RankConfig,
    RetouchConfig,
    SegmentConfig,
    StageConfig,
    TagConfig,
    TrainConfig,
    YuNetDetectConfig,
    YuNetOrientConfig,
)

PARQUET_OUTPUT = "stages/{stage}/{key}.parquet"
LORA_FILE = "pytorch_lora_weights.safetensors"
CURATION, PORTRAIT, ADAPTER = "curation", "portrait", "adapter"
# What the portrait stages find faces with: the default detector (YuNet proposals confirmed by HOG),
# as good as HOG alone on the test photos (tests/components/test_ranking.py, test_fusion.py) and cheaper.
FACE_DETECTOR = "detect:yunet"
TRAIN, TRAIN_FREE = "train", "train-free"


@dataclass(frozen=True)
class Stage:
    name: str
    group: str
    description: str
    body: str  # "module:function" that computes the stage
    config_class: type[StageConfig] | None
    registry: str | None = None  # registry stage of its component
    config: str | None = None  # the value holding its own config (default: its name)
    backend_from: str | None = None  # the value whose `backend` picks the component (default: `config`)
    params: tuple[str, ...] = ()  # other values it depends on (in the key)
    runtime: tuple[str, ...] = ()  # values it is given but that do not change its output
    reads: tuple[str, ...] = ()  # upstream stages whose artefacts it reads
    output: str = PARQUET_OUTPUT
    uses: tuple[str, ...] = ()  # other components it builds, "registry-stage:backend"
    modes: frozenset[str] = field(default_factory=lambda: frozenset({TRAIN, TRAIN_FREE}))

    @property
    def config_name(self) -> str:
        return self.config or self.name

    @property
    def module(self) -> str:
        return self.body.partition(":")[0]

    def output_path(self, key: str) -> str:
        return self.output.format(stage=self.name, key=key)


def _curation(name: str, config: type[StageConfig], description: str, uses: tuple[str, ...] = ()) -> Stage:
    return Stage(name=name, group=CURATION, description=description, body=f"tasks.stages.{name}:{name}",
                 config_class=config, registry=name, params=("load",), reads=("batch",), uses=uses)


CURATION_STAGES: tuple[Stage, ...] = (
    _curation("orient", YuNetOrientConfig, "EXIF orientation, then a 4-way face-detector vote"),
    _curation("detect", YuNetDetectConfig, "face detection with 5 landmarks; one dominant face or rejected"),
    _curation("align", AlignConfig, "least-squares roll correction, then detect again", uses=("detect:dlib-hog",)),
    _curation("crop", CropConfig, "square crop, face centred, white outside; 68 landmarks", uses=("landmarks:dlib-68",)),
    _curation("segment", SegmentConfig, "head mask (face + hair), background white"),
    _curation("retouch", RetouchConfig, "edge-preserving skin smoothing"),
    _curation("tag", TagConfig, "gender, age, trigger word and attribute tags"),
    _curation("quality", QualityConfig, "quality score in [0, 1]; low scores rejected"),
    _curation("embed", EmbedConfig, "identity embedding"),
)

PORTRAIT_STAGES: tuple[Stage, ...] = (
    Stage(name="train", group=PORTRAIT, description="face LoRA training (diffusers + peft), resumable from checkpoints",
          body="tasks.stages.train:train_lora", config_class=TrainConfig, registry="train", params=("base",),
          runtime=("gpu",), reads=("curate",), output="lora/{key}/" + LORA_FILE, modes=frozenset({TRAIN})),
    Stage(name="generate", group=PORTRAIT, description="images in the style, face + style LoRA adapters, one seed each",
          body="tasks.stages.generate:generate_images", config_class=GenerateConfig, registry="generate",
          params=("base", "style"), runtime=("gpu",), reads=("train", "curate"), modes=frozenset({TRAIN})),
    Stage(name="generate", group=PORTRAIT,
          description="images in the style, conditioned on the face adapter (train-free), one seed each",
          body="tasks.stages.generate_adapter:generate_with_adapter", config_class=GenerateConfig,
          registry="generate", backend_from="train_free", params=("base", "style", "train_free"), runtime=("gpu",),
          reads=("curate",), modes=frozenset({TRAIN_FREE})),
    Stage(name="select", group=PORTRAIT, description="template face: the curated photo of highest quality",
          body="tasks.stages.select:select_template", config_class=None, reads=("curate",)),
    Stage(name="fuse", group=PORTRAIT, description="template face aligned, colour-matched and blended onto each image",
          body="tasks.stages.fuse:fuse_images", config_class=FuseConfig, registry="fuse", reads=("generate", "select"),
          uses=(FACE_DETECTOR,)),
    Stage(name="rank", group=PORTRAIT, description="one usable face per image, identity similarity, top K kept",
          body="tasks.stages.rank:rank_images", config_class=RankConfig, registry="rank",
          reads=("fuse", "select", "curate"), uses=(FACE_DETECTOR, "embed:dlib-resnet")),
)

ADAPTER_STAGES: tuple[Stage, ...] = (
    Stage(name="train-adapter", group=ADAPTER, description="face adapter (FACT / FeedFace) on a curated dataset",
          body="tasks.stages.train_adapter:train_adapter", config_class=AdapterTrainConfig, registry="train-adapter",
          config="train", params=("base",), runtime=("gpu",), reads=("dataset",), output="adapters/{key}/adapter.safetensors"),
)

ALL_STAGES: tuple[Stage, ...] = CURATION_STAGES + PORTRAIT_STAGES + ADAPTER_STAGES


def curation_stage(name: str) -> Stage:
    return _find(CURATION_STAGES, name)


def portrait_stages(mode: str) -> list[Stage]:
    """The portrait stages a job of `mode` runs, in order."""
    return [s for s in PORTRAIT_STAGES if mode in s.modes]


def job_stage_names(kind: str, mode: str | None = None) -> list[str]:
    """Stage names of a job in order: a curation run, or a portrait job (curation first)."""
    names = [s.name for s in CURATION_STAGES]
    if kind == PORTRAIT:
        names += [s.name for s in portrait_stages(mode or TRAIN)]
    return names


def described_stages() -> dict[str, str]:
    """Every stage name once with its description (variants of one name joined)."""
    out: dict[str, str] = {}
    for s in ALL_STAGES:
        out[s.name] = f"{out[s.name]}; {s.description}" if s.name in out else s.description
    return out


def _find(stages: tuple[Stage, ...], name: str) -> Stage:
    for s in stages:
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; stages: {', '.join(s.name for s in stages)}")
