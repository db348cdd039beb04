"""GPU memory options for large images (SDXL at 1024²): VAE tiling and slicing, CPU offload.

fp16 VAE overflow is handled elsewhere: SDXL's VAE (config force_upcast=True)
runs in float32 while the LoRA trainer encodes (Family.vae_needs_fp32) and
diffusers' SDXL pipeline upcasts it to decode; SDXL's fp16-fix VAE (force_upcast
False) can replace it (base_model.load_base_model(vae=...)) and stays in fp16.
"""

from __future__ import annotations

from dataclasses import dataclass

OFFLOAD_KINDS = ("none", "model", "sequential")


@dataclass(frozen=True)
class MemoryOptions:
    vae_tiling: bool = False  # encode/decode large images tile by tile (seams blended)
    vae_slicing: bool = False  # decode a batch one image at a time
    # "model": each model moves to the GPU only while it runs (a little slower);
    # "sequential": layer by layer (least memory, much slower)
    cpu_offload: str = "none"

    def __post_init__(self):
        if self.cpu_offload not in OFFLOAD_KINDS:
            raise ValueError(f"cpu_offload must be one of {', '.join(OFFLOAD_KINDS)}, got {self.cpu_offload!r}")


def apply_memory_options(pipeline, options: MemoryOptions, device: str):
    """Set the options on `pipeline` (in place; returned), replacing those it had: default options
    make an offloaded pipeline a plain one on `device` again (one that can train). With offload,
    `device` is the accelerator the models visit; the pipeline must then not be moved with .to()
    (PeftGenerator does not)."""
    vae = pipeline.vae
    vae.enable_tiling() if options.vae_tiling else vae.disable_tiling()
    vae.enable_slicing() if options.vae_slicing else vae.disable_slicing()
    if options.cpu_offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
    elif options.cpu_offload == "sequential":
        pipeline.enable_sequential_cpu_offload(device=device)
    elif is_offloaded(pipeline):
        pipeline.remove_all_hooks()  # accelerate puts the weights back where they were
        pipeline.to(device)
    return pipeline


def is_offloaded(pipeline) -> bool:
    """Whether accelerate's offload hooks move the models (then nothing else may move them)."""
    return any(hasattr(model, "_hf_hook") for model in pipeline.components.values())
