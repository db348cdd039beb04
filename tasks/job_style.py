"""The job's style as the generate stages take it: a `Style` whose LoRAs were found on this machine.

Its dump is part of the generation key (tasks/keys.py) and holds no path and
no hub id: each LoRA is there by its adapter name and weight, and enters the
key by the content of its file through `content_files()`. So moving a LoRA,
or finding the same file under another id, changes no key; replacing the
file's content, or a weight, regenerates.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from components.diffusion.styles import Style, StyleLora
from components.types import GenerationRequest, StyleLoraWeight
from tasks.config import BaseModelConfig, GenerateConfig


class StyleLoraFile(BaseModel):
    """One LoRA of the job's style, as generation loads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # adapter name in the generation request: style_0, style_1, ...
    weight: float
    label: str = Field(exclude=True)  # how users name it (a path, or owner/name[@revision][:file]): messages only
    path: str = Field(exclude=True)  # the weights file: keyed by its content, never by where it lies


class JobStyle(Style):
    """`Style` plus its LoRA files; what does not change the images (paths, ids, preview, description) is
    left out of its dump."""

    loras: tuple[StyleLora, ...] = Field(default=(), max_length=16, exclude=True)
    preview: str | None = Field(default=None, exclude=True)
    description: str = Field(default="", exclude=True)
    lora_files: tuple[StyleLoraFile, ...] = ()

    def content_files(self) -> list[str]:
        return [lora.path for lora in self.lora_files]


def job_style(style: Style, *, trust_pickle: bool = False,
              targets: Sequence[str] = ("unet", "text_encoder")) -> JobStyle:
    """`style` with each of its LoRAs found and checked (missing, pickle, wrong format or family: raised now).

    `targets`: the parts of the base model a LoRA may adapt (`lora_targets`).
    """
    from tasks.lora_sources import resolve_style_loras

    files = tuple(StyleLoraFile(name=r.name, weight=r.weight, label=r.lora.label, path=str(r.path))
                  for r in resolve_style_loras(style, trust_pickle=trust_pickle, targets=targets))
    fields = {name: getattr(style, name) for name in Style.model_fields}
    return JobStyle(**fields, lora_files=files)


def lora_targets(base: BaseModelConfig) -> tuple[str, ...]:
    """The UNet and the text encoders of the base model's family, told without loading it (an SDXL LoRA on
    SD 1.5 is refused before any work). A model that cannot be found yet: all parts (the job's base-model
    check says why; loading checks every LoRA against the pipeline again)."""
    from components.diffusion.base_model import BaseModelNotFound, model_family

    try:
        return ("unet", *model_family(base.spec, allow_pickle=base.trust_pickle).text_encoders)
    except (BaseModelNotFound, ValueError, OSError):
        return ("unet", "text_encoder", "text_encoder_2")


def style_lora_weights(style: JobStyle) -> tuple[StyleLoraWeight, ...]:
    """`GenerationRequest.style_loras` for this style."""
    return tuple(StyleLoraWeight(name=lora.name, weight=lora.weight) for lora in style.lora_files)


def style_state_dicts(style: JobStyle, *, trust_pickle: bool = False) -> dict[str, dict]:
    """Each LoRA's tensors by adapter name (`Generator.generate(..., style_loras=)`)."""
    from tasks.lora_sources import load_lora_state_dict

    return {lora.name: load_lora_state_dict(lora.path, lora.label, trust_pickle=trust_pickle)
            for lora in style.lora_files}


def named_style_loras(style: JobStyle, *, trust_pickle: bool = False) -> list[tuple[str, dict, float]]:
    """(adapter name, tensors, weight) of each LoRA, as `components.diffusion.generate.loras_loaded` takes them."""
    tensors = style_state_dicts(style, trust_pickle=trust_pickle)
    return [(lora.name, tensors[lora.name], lora.weight) for lora in style.lora_files]


def make_request(config: GenerateConfig, style: JobStyle, prompt: str, negative: str, seeds: list[int],
                 width: int, height: int, steps: int | None = None) -> GenerationRequest:
    """What every generation stage asks of its generator: the style's sampling and LoRA weights at `config`'s
    steps (or `steps`) and batch size."""
    return GenerationRequest(prompt=prompt, negative_prompt=negative, seeds=seeds,
                             steps=steps or config.steps or style.steps, guidance=style.guidance, width=width,
                             height=height, sampler=style.sampler, face_weight=style.face_weight,
                             style_weight=style.style_weight, batch_size=config.batch_size,
                             style_loras=style_lora_weights(style))
