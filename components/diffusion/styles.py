"""Portrait styles: a prompt template around the user's trigger word, plus sampling settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from components.diffusion.samplers import SAMPLER_NAMES

TRIGGER = "{trigger}"
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")


class StyleError(ValueError):
    """A style definition is invalid; the message names the style, its source and the key."""


class Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    description: str = ""
    prompt: str = Field(min_length=1)  # contains "{trigger}", replaced by the user's trigger word (+ tags)
    negative_prompt: str = ""
    lora: str | None = None  # local .safetensors path or hub id; None for a prompt-only style
    face_weight: float = Field(default=0.25, ge=0.0, le=2.0)
    style_weight: float = Field(default=1.0, ge=0.0, le=2.0)
    sampler: str = "dpm++"
    steps: int = Field(default=30, ge=1, le=150)
    guidance: float = Field(default=7.0, ge=0.0, le=30.0)
    width: int = Field(default=512, ge=64, le=2048, multiple_of=8)
    height: int = Field(default=512, ge=64, le=2048, multiple_of=8)

    def content_files(self) -> list[str]:
        """The style LoRA is keyed by its content: replacing the file regenerates."""
        # The library makes a local LoRA path absolute; a hub id stays an id.
        return [self.lora] if self.lora and self.lora.startswith("/") else []

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

    @field_validator("lora")
    @classmethod
    def _no_pickle(cls, lora: str | None) -> str | None:
        if lora is None:
            return None
        if not lora.strip():
            raise ValueError("must be a path or hub id, or null for a prompt-only style")
        if lora.lower().endswith(PICKLE_SUFFIXES):
            raise ValueError(f"pickle-based LoRA {lora!r} refused; convert it to .safetensors")
        return lora


def parse_style(mapping: Mapping, source: str) -> Style:
    """Validate one style definition; `source` (e.g. the file) goes into error messages."""
    if not isinstance(mapping, Mapping):
        raise StyleError(f"style in {source}: expected a mapping of keys, got {type(mapping).__name__}")
    label = f"style {mapping.get('name', '?')!r} ({source})"
    unknown = sorted(str(key) for key in mapping if key not in Style.model_fields)
    if unknown:
        raise StyleError(
            f"{label}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(Style.model_fields)}"
        )
    try:
        return Style.model_validate(dict(mapping))
    except ValidationError as error:
        problems = "; ".join(
            f"key {'.'.join(map(str, e['loc'])) or '?'!r}: {e['msg']}" for e in error.errors()
        )
        raise StyleError(f"{label}: {problems}") from None


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
