"""Train -> save -> generate on tiny-sdxl through the component API (registry backends, family, styles)."""

from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from components import registry
from components.diffusion.base_model import load_base_model, model_family
from components.diffusion.family import family_of
from components.diffusion.fast import load_fast_lora
from components.diffusion.styles import build_prompt
from components.types import GenerationRequest
from tests.checkpoints import MemoryCheckpoints
from components.diffusion.tiny import random_unet_lora

pytestmark = pytest.mark.usefixtures("one_torch_thread")
STYLES = Path(__file__).resolve().parents[2] / "data" / "styles"


def test_face_lora_portraits_on_tiny_sdxl(examples, tmp_path):
    from safetensors.torch import save_file

    from tasks.styles import load_style_library

    spec = "tiny-sdxl"
    family = model_family(spec)
    pipeline = load_base_model(spec, seed=0)
    assert family is family_of(pipeline) and family.name == "sdxl" and pipeline.is_test_model

    trainer = registry.create("train", "peft-lora", pipeline=pipeline, steps=3, resolution=32, learning_rate=5e-3,
                              train_text_encoder=True, checkpoint_every=2)
    checkpoints = MemoryCheckpoints()
    weights = trainer.train(examples, checkpoints)
    assert sorted(checkpoints.saved) == [2] and weights.family == "sdxl"
    family.save_lora(tmp_path / "lora", weights)
    face = load_file(tmp_path / "lora" / "pytorch_lora_weights.safetensors")

    style = load_style_library(STYLES)["studio_headshot"]
    prompt, negative = build_prompt(style, examples[0].caption)
    request = GenerationRequest(prompt=prompt, negative_prompt=negative, seeds=[1, 2], steps=2,
                                guidance=style.guidance, width=32, height=32, sampler=style.sampler,
                                face_weight=1.0, style_weight=style.style_weight, batch_size=2)
    generator = registry.create("generate", "peft", pipeline=pipeline, device="cpu")
    portraits = generator.generate(request, face, None)
    without_face = generator.generate(request, None, None)
    assert [p.shape for p in portraits] == [(32, 32, 3)] * 2 and portraits[0].dtype == np.uint8
    assert not np.array_equal(portraits[0], without_face[0])

    fast_file = tmp_path / "lcm-lora-tiny-sdxl.safetensors"
    save_file({f"unet.{k}": v.contiguous() for k, v in random_unet_lora(pipeline, seed=5).items()}, fast_file)
    fast = registry.create("generate", "peft", pipeline=pipeline, device="cpu", fast=load_fast_lora(str(fast_file)))
    quick = fast.generate(request, face, None)
    assert len(quick) == 2 and not np.array_equal(quick[0], portraits[0])
    assert pipeline.get_list_adapters() == {}
