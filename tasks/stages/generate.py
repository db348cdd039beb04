"""generate: images in the style with the face LoRA, each of the style's LoRAs (and a fast-sampling LoRA),
one seed each."""

from __future__ import annotations

from components import registry
from components.diffusion.styles import build_prompt, image_size
from tasks.config import BaseModelConfig, FastConfig, GenerateConfig, MemoryConfig
from tasks.diffusion_models import device, pipeline_for
from tasks.gpu import GpuConfig, gpu_slot
from tasks.imaging import encode_png
from tasks.job_style import JobStyle, make_request, style_state_dicts
from tasks.portrait_rows import curated_ok, generated_rows, write_rows
from tasks.workspace import Workspace


def generate_images(root: str, output: str, inputs: dict[str, str], generate: GenerateConfig, base: BaseModelConfig,
                    style: JobStyle, fast: FastConfig | None = None, memory: MemoryConfig | None = None,
                    gpu: GpuConfig | None = None) -> None:
    from safetensors.torch import load_file

    from components.diffusion.family import family_named

    records = curated_ok(root, inputs["curate"])
    prompt, negative = build_prompt(style, records[0].trigger_word or "a person")
    width, height = image_size(style, generate.resolution, family_named(base.family).default_resolution)
    seeds = [generate.seed + i for i in range(generate.num_images)]
    request = make_request(generate, style, prompt, negative, seeds, width, height)
    face_lora = load_file(Workspace(root).path(inputs["train"]))
    style_loras = style_state_dicts(style, trust_pickle=base.trust_pickle)
    with gpu_slot(gpu):
        generator = registry.create("generate", generate.backend, pipeline=pipeline_for(base, memory), device=device(),
                                    **_fast_sampling(fast))
        images = generator.generate(request, face_lora, style_loras=style_loras)
    write_rows(root, output, generated_rows(seeds, [encode_png(i) for i in images], style.name, prompt, negative))


def _fast_sampling(fast: FastConfig | None) -> dict:
    """The generator's `fast` argument: the fast LoRA and its plan (none when not configured)."""
    if fast is None:
        return {}
    from components.diffusion.fast import load_fast_lora

    return {"fast": load_fast_lora(**fast.component_options())}
