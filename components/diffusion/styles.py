"""Portrait styles: a prompt template around the user's trigger word, style LoRAs, sampling settings.

A style names zero or more LoRAs, each a `.safetensors` file (relative to the
style file) or a hub id (`owner/name`, optional `revision` and `file`), with a
weight. Everything here is validation of untrusted text; finding the files is
the task side's job (tasks/styles.py, tasks/lora_sources.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.diffusion.samplers import SAMPLER_NAMES

TRIGGER = "{trigger}"
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")
LORA_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
MAX_LORA_WEIGHT = 4.0
# Keys of the first style format, still read: `lora: PATH_OR_ID` (weighted by `style_weight`).
LEGACY_KEYS = ("lora",)
_HUB_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_HUB_ID = re.compile(rf"{_HUB_PART}/{_HUB_PART}")
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")
_FILE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9 ._+()-]{0,127}")


class StyleError(ValueError):
    """A style definition is invalid; the message names the style, its source and the key."""


def is_hub_source(source: str) -> bool:
    """`owner/name` (no weight-file suffix, no '..'): a hub id; anything else is meant as a file."""
    return not source.lower().endswith(LORA_SUFFIXES) and _HUB_ID.fullmatch(source) is not None and ".." not in source


class StyleLora(BaseModel):
    """One LoRA of a style: where it comes from and how strongly it applies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=4096)
    revision: str | None = None  # hub ids only: branch, tag or commit
    file: str | None = None  # hub ids only: the weights file inside the repository
    weight: float = Field(default=1.0, ge=0.0, le=MAX_LORA_WEIGHT, allow_inf_nan=False)

    @field_validator("source")
    @classmethod
    def _file_or_hub_id(cls, source: str) -> str:
        if any(ord(c) < 32 for c in source):
            raise ValueError("contains control characters")
        if source.lower().endswith(LORA_SUFFIXES) or is_hub_source(source):
            return source
        why = " ('..' is not allowed in a hub id)" if ".." in source else ""
        raise ValueError(f"{source!r} is neither a LoRA file ({', '.join(LORA_SUFFIXES)}) nor a hub id "
                         f"owner/name{why}")

    @field_validator("revision")
    @classmethod
    def _safe_revision(cls, revision: str | None) -> str | None:
        if revision is not None and (_REVISION.fullmatch(revision) is None or ".." in revision):
            raise ValueError(f"revision {revision!r} must be a branch, tag or commit "
                             "(letters, digits, '.', '_', '-', '/', no '..')")
        return revision

    @field_validator("file")
    @classmethod
    def _safe_repo_file(cls, file: str | None) -> str | None:
        if file is None:
            return None
        parts = PurePosixPath(file).parts
        if (not parts or file.startswith("/") or "\\" in file
                or any(p in (".", "..") or _FILE_PART.fullmatch(p) is None for p in parts)):
            raise ValueError(f"file {file!r} must be a relative path inside the repository, without '..'")
        if not file.lower().endswith(LORA_SUFFIXES):
            raise ValueError(f"file {file!r} must be a LoRA weights file ({', '.join(LORA_SUFFIXES)})")
        return file

    @model_validator(mode="after")
    def _hub_fields_only_for_hub_ids(self) -> "StyleLora":
        if not self.is_hub and (self.revision is not None or self.file is not None):
            raise ValueError(f"revision/file apply to hub ids only, and {self.source!r} is a file")
        return self

    @property
    def is_hub(self) -> bool:
        return is_hub_source(self.source)

    @property
    def is_pickle(self) -> bool:
        return (self.file or self.source).lower().endswith(PICKLE_SUFFIXES)

    @property
    def label(self) -> str:
        """How users name it in messages: the path, or owner/name[@revision][:file]."""
        if not self.is_hub:
            return self.source
        return self.source + (f"@{self.revision}" if self.revision else "") + (f":{self.file}" if self.file else "")


class Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    description: str = ""
    prompt: str = Field(min_length=1)  # contains "{trigger}", replaced by the user's trigger word (+ tags)
    negative_prompt: str = ""
    loras: tuple[StyleLora, ...] = Field(default=(), max_length=16)
    preview: str | None = None  # an image showing the style, relative to the style file
    face_weight: float = Field(default=0.25, ge=0.0, le=2.0)
    style_weight: float = Field(default=1.0, ge=0.0, le=2.0)  # weight of a legacy `lora:` and of --style-lora
    sampler: str = "dpm++"
    steps: int = Field(default=30, ge=1, le=150)
    guidance: float = Field(default=7.0, ge=0.0, le=30.0)
    width: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    height: int = Field(default=512, ge=64, le=2048, multiple_of=8)

    @model_validator(mode="before")
    @classmethod
    def _legacy_single_lora(cls, data):
        """`lora: X` (the first format) is `loras: [{source: X, weight: style_weight}]`."""
        if not isinstance(data, Mapping) or "lora" not in data:
            return data
        data = dict(data)
        lora = data.pop("lora")
        if lora is None:
            return data
        if data.get("loras"):
            raise ValueError("give either 'lora' (one LoRA) or 'loras' (a list), not both")
        data["loras"] = [{"source": lora, "weight": data.get("style_weight", 1.0)}]
        return data

    @field_validator("prompt")
    @classmethod
    def _has_trigger(cls, prompt: str) -> str:
        if TRIGGER not in prompt:
            raise ValueError(f"must contain the {TRIGGER} placeholder")
        return prompt

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, sampler: str) -> str:
        if sampler not in SAMPLER_NAMES:
            raise ValueError(f"unknown sampler {sampler!r}; available: {', '.join(SAMPLER_NAMES)}")
        return sampler


def parse_style(mapping: Mapping, source: str) -> Style:
    """Validate one style definition; `source` (e.g. the file) goes into error messages."""
    if not isinstance(mapping, Mapping):
        raise StyleError(f"style in {source}: expected a mapping of keys, got {type(mapping).__name__}")
    label = f"style {mapping.get('name', '?')!r} ({source})"
    allowed = (*Style.model_fields, *LEGACY_KEYS)
    unknown = sorted(str(key) for key in mapping if key not in allowed)
    if unknown:
        raise StyleError(f"{label}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    if mapping.get("lora") is not None and mapping.get("loras"):
        raise StyleError(f"{label}: key 'lora': give either 'lora' (one LoRA) or 'loras' (a list), not both")
    for index, lora in enumerate(mapping.get("loras") or ()):
        extra = sorted(str(k) for k in lora if k not in StyleLora.model_fields) if isinstance(lora, Mapping) else []
        if extra:
            raise StyleError(f"{label}: key 'loras.{index}': unknown key(s) {', '.join(map(repr, extra))}; "
                             f"allowed: {', '.join(StyleLora.model_fields)}")
    try:
        return Style.model_validate(dict(mapping))
    except ValidationError as error:
        raise StyleError(f"{label}: {validation_problems(error)}") from None


def parse_lora_spec(spec: str, weight: float) -> StyleLora:
    """A command-line LoRA: `SOURCE[,weight=W][,revision=R][,file=F]` (SOURCE a file or owner/name)."""
    source, *options = [part.strip() for part in spec.split(",")]
    fields: dict[str, object] = {"source": source, "weight": weight}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in ("weight", "revision", "file"):
            raise StyleError(f"style LoRA {spec!r}: {option!r} is not weight=W, revision=R or file=F")
        fields[key] = value
    try:
        return StyleLora.model_validate(fields)
    except ValidationError as error:
        raise StyleError(f"style LoRA {spec!r}: {validation_problems(error)}") from None


def validation_problems(error: ValidationError) -> str:
    return "; ".join(f"key {'.'.join(map(str, e['loc'])) or '?'!r}: {e['msg']}" for e in error.errors())


def build_prompt(style: Style, trigger_word: str, tags: Sequence[str] = ()) -> tuple[str, str]:
    """(prompt, negative prompt): the trigger word and the user's tags go where {trigger} is."""
    if not trigger_word or not trigger_word.strip():
        raise ValueError("trigger_word must not be empty")
    subject = ", ".join(dict.fromkeys(t.strip() for t in (trigger_word, *tags) if t and t.strip()))
    return style.prompt.replace(TRIGGER, subject), style.negative_prompt


def image_size(style: Style, resolution: int | None, family_resolution: int) -> tuple[int, int]:
    """(width, height) to generate at: `resolution`² when given, else the style's; a style left at the
    default 512² (SD 1.5's native size) takes the model family's default resolution (1024² on SDXL)."""
    if resolution:
        return resolution, resolution
    if (style.width, style.height) == (Style.model_fields["width"].default, Style.model_fields["height"].default):
        return family_resolution, family_resolution
    return style.width, style.height
