"""Fast sampling: an LCM / TCD / Hyper-SD / SDXL-Lightning LoRA with the scheduler, steps and guidance it was
distilled for, on SD 1.5 or SDXL.

The kind comes from the LoRA's name (file or hub id) or its safetensors metadata,
or from the user; each kind's settings are those of its model card, and the user
may override steps, guidance and the LoRA's weight. A `FastLora` is loaded once
and handed to the generator, which loads it as one more adapter and samples with
`apply(request)`. Guidance 1 means no classifier-free guidance in diffusers (the
cards' "0").
"""

from __future__ import annotations

import dataclasses
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from components.diffusion.samplers import check_sampler
from components.types import GenerationRequest

FAST_ADAPTER = "fast"
LORA_FILE = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class FastKind:
    sampler: str  # components.diffusion.samplers name
    steps: int
    guidance: float
    cfg_guidance: float | None = None  # guidance of the card's classifier-free-guidance variants ("...CFG...")


# kind -> settings from the model cards
FAST_KINDS: dict[str, FastKind] = {
    "lightning": FastKind("euler_trailing", 4, 1.0),  # ByteDance/SDXL-Lightning: Euler, trailing; N from the name
    "hyper": FastKind("ddim_trailing", 8, 1.0, cfg_guidance=5.0),  # ByteDance/Hyper-SD: DDIM trailing
    "tcd": FastKind("tcd", 4, 1.0),  # h1t/TCD-SD15-LoRA, TCD-SDXL-LoRA: TCDScheduler, 4-8 steps
    "lcm": FastKind("lcm", 4, 1.0),  # latent-consistency/lcm-lora-sdv1-5, -sdxl: LCMScheduler, 4-8 steps, 1-2
}
FAST_KIND_NAMES = tuple(FAST_KINDS)
# safetensors metadata keys that name a LoRA (modelspec, kohya's sd-scripts)
_NAME_METADATA = ("modelspec.title", "ss_output_name", "name", "title")
_STEPS_IN_NAME = re.compile(r"(\d{1,2})[-_ ]?steps?(?![a-z])")


@dataclass(frozen=True)
class FastPlan:
    kind: str
    sampler: str
    steps: int
    guidance: float
    weight: float = 1.0


@dataclass(frozen=True)
class FastLora:
    name: str  # the file or hub id it came from
    state_dict: dict
    plan: FastPlan

    def apply(self, request: GenerationRequest) -> GenerationRequest:
        """The request with the fast sampler, step count and guidance."""
        return dataclasses.replace(request, sampler=self.plan.sampler, steps=self.plan.steps,
                                   guidance=self.plan.guidance)

    def adapter(self) -> tuple[str, dict, float]:
        return FAST_ADAPTER, self.state_dict, self.plan.weight


def fast_plan(name: str, metadata: dict | None = None, *, kind: str | None = None, steps: int | None = None,
              guidance: float | None = None, weight: float = 1.0) -> FastPlan:
    """Settings for the LoRA called `name`: its kind's, with the steps its name states, then the overrides."""
    text = " ".join([name, *(str((metadata or {}).get(key, "")) for key in _NAME_METADATA)]).lower()
    if kind is None:
        kind = next((k for k in FAST_KIND_NAMES if k in text), None)
        if kind is None:
            raise ValueError(f"cannot tell which kind of fast LoRA {name!r} is from its name or metadata; "
                             f"give the kind: one of {', '.join(FAST_KIND_NAMES)}")
    if kind not in FAST_KINDS:
        raise ValueError(f"unknown fast LoRA kind {kind!r}; kinds: {', '.join(FAST_KIND_NAMES)}")
    settings = FAST_KINDS[kind]
    named_steps = _STEPS_IN_NAME.search(text)
    default_guidance = settings.cfg_guidance if settings.cfg_guidance and "cfg" in text else settings.guidance
    plan = FastPlan(kind=kind, sampler=check_sampler(settings.sampler),
                    steps=int(steps if steps is not None else named_steps.group(1) if named_steps else settings.steps),
                    guidance=float(default_guidance if guidance is None else guidance), weight=float(weight))
    if not 1 <= plan.steps <= 50:
        raise ValueError(f"fast sampling steps must be 1..50, got {plan.steps}")
    if not (math.isfinite(plan.guidance) and plan.guidance >= 0):
        raise ValueError(f"fast sampling guidance must be a finite number >= 0, got {plan.guidance}")
    if not (math.isfinite(plan.weight) and 0 < plan.weight <= 2):
        raise ValueError(f"fast LoRA weight must be in (0, 2], got {plan.weight}")
    return plan


def load_fast_lora(spec: str, *, kind: str | None = None, steps: int | None = None, guidance: float | None = None,
                   weight: float = 1.0) -> FastLora:
    """The LoRA at `spec` (a .safetensors file, a folder holding one, or a hub id in the local cache,
    optionally `owner/name/FILE.safetensors`) with its plan."""
    from safetensors.torch import load_file

    path, plan = fast_lora_plan(spec, kind=kind, steps=steps, guidance=guidance, weight=weight)
    return FastLora(name=spec, state_dict=load_file(str(path)), plan=plan)


def fast_lora_plan(spec: str, *, kind: str | None = None, steps: int | None = None, guidance: float | None = None,
                   weight: float = 1.0) -> tuple[Path, FastPlan]:
    """The LoRA file `spec` names and its plan, from its name and header only (for checks before any work)."""
    from safetensors import safe_open

    path = resolve_lora_file(spec)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    return path, fast_plan(f"{spec} {path.name}", metadata, kind=kind, steps=steps, guidance=guidance, weight=weight)


def resolve_lora_file(spec: str) -> Path:
    from components.diffusion.base_model import BaseModelNotFound, find_cached_model, looks_like_path

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"LoRA must be a non-empty path or hub id, got {spec!r}")
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_file():
        return _safetensors_only(path)
    if path.is_dir():
        return _the_lora_in(path, spec)
    hub_file = re.fullmatch(r"(?P<repo>[\w.-]+/[\w.-]+)/(?P<file>[\w.-]+\.safetensors)", spec)
    if hub_file and not path.parent.exists():
        folder = find_cached_model(hub_file["repo"], marker=hub_file["file"], what="LoRA")
        if not (folder / hub_file["file"]).is_file():
            raise BaseModelNotFound(f"LoRA {spec!r}: the cached {hub_file['repo']!r} has no {hub_file['file']!r}")
        return folder / hub_file["file"]
    if looks_like_path(spec):
        raise BaseModelNotFound(f"LoRA {spec!r}: no such file or folder")
    return _the_lora_in(find_cached_model(spec, marker="*.safetensors", what="LoRA"), spec)


def _safetensors_only(path: Path) -> Path:
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"LoRA {str(path)!r} refused: only .safetensors LoRAs are loaded (no pickle)")
    return path


def _the_lora_in(folder: Path, spec: str) -> Path:
    if (folder / LORA_FILE).is_file():
        return folder / LORA_FILE
    files = sorted(folder.glob("*.safetensors"))
    if len(files) != 1:
        names = ", ".join(f.name for f in files) or "none"
        raise ValueError(f"LoRA {spec!r}: expected one .safetensors file in {str(folder)!r}, found {names}; "
                         f"name the file (a path, or {spec}/FILE.safetensors for a hub id)")
    return files[0]


@contextmanager
def fast_sampling(pipeline, fast: FastLora, loras=()):
    """For generators that run their own denoising loop (the face adapters, components.adapters.infer):
    the fast LoRA and `loras` ((name, state_dict, weight), e.g. the style) loaded at their weights and the
    fast scheduler set for the duration. Yields the plan: sample with its steps and guidance."""
    from components.diffusion.generate import loras_loaded
    from components.diffusion.samplers import scheduler_for

    original = pipeline.scheduler
    with loras_loaded(pipeline, [*loras, fast.adapter()]):
        pipeline.scheduler = scheduler_for(fast.plan.sampler, original.config)
        try:
            yield fast.plan
        finally:
            pipeline.scheduler = original
