"""Sampler names used in styles and requests -> diffusers scheduler classes.

Kept free of diffusers imports so that style validation stays light.
"""

from __future__ import annotations

from typing import Any

# name -> (diffusers scheduler class, overrides applied on top of the model's config)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),  # PLMS, as SD 1.x ships it
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpm++_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    # the schedulers fast-sampling LoRAs are distilled for (components.diffusion.fast)
    "lcm": ("LCMScheduler", {}),
    "tcd": ("TCDScheduler", {}),
    "ddim_trailing": ("DDIMScheduler", {"timestep_spacing": "trailing"}),
    "euler_trailing": ("EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)


def check_sampler(name: str) -> str:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; available: {', '.join(SAMPLER_NAMES)}")
    return name


def scheduler_for(name: str, config: Any):
    """A fresh scheduler of the named kind, configured from the model's scheduler config."""
    import diffusers

    class_name, overrides = SAMPLERS[check_sampler(name)]
    return getattr(diffusers, class_name).from_config(config, **overrides)
