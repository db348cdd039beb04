"""The diffusion inputs of a job checked against one another before any work (nothing is loaded).

The base model (and its VAE) must be here and of a supported family; every LoRA
given by file must be made for that family; the face adapters (train-free mode,
`train-adapter`) must run on it. The family goes into the base model's config
(`with_family`), and so into every key that has the base model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tasks.config import BaseModelConfig, FastConfig


def with_family(base: BaseModelConfig) -> BaseModelConfig:
    """`base` with its family set: read from the folder, the file's header or the cached id when not given."""
    if base.family is not None:
        return base
    return base.model_copy(update={"family": _model_family(base).name})


def check_model_inputs(base: BaseModelConfig, *, style_loras: Sequence[tuple[str, str]] = (),
                       fast: FastConfig | None = None, face_adapters: bool = False):
    """Returns the base model's Family; raises with a clear message (naming both families on a mismatch).

    `style_loras`: (label, file) of each of the style's LoRAs, found (tasks/job_style.py)."""
    from components.diffusion.base_model import check_base_model, vae_location
    from components.diffusion.fast import fast_lora_plan
    from components.diffusion.lora_family import check_same_family, lora_file_family

    check_base_model(base.spec, allow_pickle=base.trust_pickle)
    family = _model_family(base)
    if base.family is not None and base.family != family.name:
        raise ValueError(f"base model {base.spec!r} is {family.label} ({family.name}), "
                         f"but its configuration says family {base.family!r}")
    if base.vae is not None:
        vae_location(base.vae, allow_pickle=base.trust_pickle)
    if face_adapters:
        family.require_face_adapters()
    for label, path in style_loras:
        _check_style_lora_family(label, path, family)
    if fast is not None:
        path, _ = fast_lora_plan(**fast.component_options())
        check_same_family(lora_file_family(path), family, "fast-sampling")
    return family


def _check_style_lora_family(label: str, path: str, family) -> None:
    """A safetensors LoRA's family from its header (a trusted pickle is left to the loader's check)."""
    from components.diffusion.lora_family import LoraFamilyMismatch, check_same_family, lora_file_family

    if Path(path).suffix.lower() != ".safetensors":
        return
    try:
        check_same_family(lora_file_family(path), family, "style")
    except LoraFamilyMismatch as error:
        raise LoraFamilyMismatch(f"{error} (style LoRA {label!r})") from None


def _model_family(base: BaseModelConfig):
    from components.diffusion.base_model import model_family

    return model_family(base.spec, allow_pickle=base.trust_pickle)


def check_runs_here(memory) -> None:
    """Options that only make sense on this machine's hardware, checked where the job runs (the worker).

    CPU offload moves each model to a CUDA GPU while it runs; without one, diffusers fails much later
    (loading the face LoRA, after training) with an obscure message.
    """
    from tasks.diffusion_models import device

    if memory is not None and memory.cpu_offload != "none" and device() != "cuda":
        raise ValueError(f"--cpu-offload {memory.cpu_offload} needs a CUDA GPU and this machine has none: "
                         "leave it out (on a CPU everything is already in main memory)")
